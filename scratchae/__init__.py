"""scratchae: autoencoders from scratch, every forward and backward pass written by hand, on NumPy or CuPy."""
from .backend import GPUUnavailableError, get_xp, gpu_xp, to_device, to_numpy
from .conv import Conv2D, Conv2DTranspose
from .gradcheck import assert_close, check_layer, check_loss, check_model, numerical_gradient, rel_error
from .denoise import keras_blog_denoiser, tf_denoiser
from .layers import Clip, Dense, ReLU, Sigmoid
from .losses import BCE, MSE
from .models import Autoencoder, Sequential, conv_autoencoder, conv_pool_autoencoder, dense_autoencoder
from .optim import SGD, Adam
from .pooling import Flatten, MaxPool2D, Reshape, UpSampling2D
from .serialize import load_model, save_model
from .vae import VAE, dense_vae

__version__ = "0.1.0"

__all__ = [
    "GPUUnavailableError", "get_xp", "gpu_xp", "to_device", "to_numpy",
    "assert_close", "check_layer", "check_loss", "check_model", "numerical_gradient", "rel_error",
    "Dense", "ReLU", "Sigmoid", "Clip", "BCE", "MSE", "Autoencoder", "Sequential", "dense_autoencoder",
    "conv_autoencoder", "conv_pool_autoencoder", "tf_denoiser", "keras_blog_denoiser",
    "SGD", "Adam", "load_model", "save_model", "__version__",
    "Conv2D", "Conv2DTranspose", "MaxPool2D", "UpSampling2D", "Flatten", "Reshape",
    "VAE", "dense_vae",
]
