"""Session fixtures owned by the data side; see tests/conftest.py."""
