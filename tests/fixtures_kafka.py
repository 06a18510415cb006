"""Session fixtures owned by the kafka side; see tests/conftest.py."""
