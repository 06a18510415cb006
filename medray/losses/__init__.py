"""Training losses (plain torch): adversarial, pixel, SSIM, VGG19 perceptual, the composite IoT-GAN
generator loss and the PixMed generator loss."""
