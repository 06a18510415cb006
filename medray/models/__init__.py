"""Plain-torch models of medray: IoT-GAN SR generator + hybrid discriminator (paper A), ghost U-Net cGAN
(paper B), checkpoints and the size summary. Nothing here imports Ray."""
