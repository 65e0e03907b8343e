"""Keras 3 reference models for every model in specs/, written by hand from the
architectures' descriptions (not from archdsl's generated code).

tests/test_specs.py checks archdsl's parameter counts against them, and
bench/keras_reference.py builds them as the baseline of the check-speed benchmark (what a
framework user pays to learn a model's size). Importing this module imports Keras.
"""

from __future__ import annotations

import os
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from keras import layers  # noqa: E402


class Sampling(layers.Layer):
    """z = z_mean + exp(z_log_var / 2) * eps; no weights (the reference needs only its counts)."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        return z_mean + keras.ops.exp(0.5 * z_log_var) * keras.random.normal(keras.ops.shape(z_mean))


def ref_mlp() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((784,)),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ]
    )


def ref_cnn() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def ref_lenet5() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            layers.Conv2D(6, 5, activation="tanh"),
            layers.AveragePooling2D(2),
            layers.Conv2D(16, 5, activation="tanh"),
            layers.AveragePooling2D(2),
            layers.Flatten(),
            layers.Dense(120, activation="tanh"),
            layers.Dense(84, activation="tanh"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def ref_resnet() -> keras.Model:
    image = keras.Input((224, 224, 3))
    x = layers.Conv2D(64, 7, strides=2, padding="same")(image)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    for _ in range(3):
        y = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(64, 3, padding="same")(x)))
        y = layers.BatchNormalization()(layers.Conv2D(64, 3, padding="same")(y))
        x = layers.ReLU()(layers.Add()([y, x]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, layers.Dense(1000, activation="softmax")(x))


def ref_simple_rnn() -> keras.Model:
    return keras.Sequential([keras.Input((None, 1)), layers.SimpleRNN(50), layers.Dense(1)])


def ref_lstm() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((60, 1)),
            layers.LSTM(50, return_sequences=True),
            layers.Dropout(0.2),
            layers.LSTM(50, return_sequences=True),
            layers.Dropout(0.2),
            layers.LSTM(50),
            layers.Dropout(0.2),
            layers.Dense(1),
        ]
    )


def ref_gru() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((200,), dtype="int32"),
            layers.Embedding(10000, 128),
            layers.GRU(128, dropout=0.2, recurrent_dropout=0.2),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


def ref_bidirectional() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((200,), dtype="int32"),
            layers.Embedding(10000, 128),
            layers.Bidirectional(layers.LSTM(64)),
            layers.Dropout(0.5),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


def ref_encoder() -> keras.Model:
    return keras.Sequential([keras.Input((784,)), layers.Dense(32, activation="relu")])


def ref_decoder() -> keras.Model:
    return keras.Sequential([keras.Input((32,)), layers.Dense(784, activation="sigmoid")])


def ref_autoencoder() -> keras.Model:
    x = keras.Input((784,))
    return keras.Model(x, ref_decoder()(ref_encoder()(x)))


def ref_conv_autoencoder() -> keras.Model:
    image = keras.Input((28, 28, 1))
    x = image
    for filters in (16, 8, 8):
        x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.UpSampling2D(2)(layers.Conv2D(8, 3, activation="relu", padding="same")(x))
    x = layers.UpSampling2D(2)(layers.Conv2D(8, 3, activation="relu", padding="same")(x))
    x = layers.UpSampling2D(2)(layers.Conv2D(16, 3, activation="relu")(x))
    decoded = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x)
    assert tuple(decoded.shape) == (None, 28, 28, 1)
    return keras.Model(image, decoded)


def ref_vae_encoder() -> keras.Model:
    x = keras.Input((784,))
    h = layers.Dense(512, activation="relu")(x)
    z_mean, z_log_var = layers.Dense(2)(h), layers.Dense(2)(h)
    return keras.Model(x, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])


def ref_vae_decoder() -> keras.Model:
    return keras.Sequential(
        [keras.Input((2,)), layers.Dense(512, activation="relu"), layers.Dense(784, activation="sigmoid")]
    )


def ref_vae() -> keras.Model:
    x = keras.Input((784,))
    _, _, z = ref_vae_encoder()(x)
    return keras.Model(x, ref_vae_decoder()(z))


def ref_generator() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((100,)),
            layers.Dense(128, activation="relu"),
            layers.Dense(256, activation="relu"),
            layers.Dense(512, activation="relu"),
            layers.Dense(784, activation="tanh"),
            layers.Reshape((28, 28, 1)),
        ]
    )


def ref_discriminator() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dense(256, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


def adversarial(generator: keras.Model, discriminator: keras.Model) -> keras.Model:
    discriminator.trainable = False
    z = keras.Input((100,))
    return keras.Model(z, discriminator(generator(z)))


def ref_gan() -> keras.Model:
    return adversarial(ref_generator(), ref_discriminator())


def ref_dcgan_generator() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((100,)),
            layers.Dense(7 * 7 * 256),
            layers.BatchNormalization(),
            layers.Reshape((7, 7, 256)),
            layers.Conv2DTranspose(128, 5, strides=1, padding="same"),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2DTranspose(64, 5, strides=2, padding="same"),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2DTranspose(1, 5, strides=2, padding="same", activation="tanh"),
        ]
    )


def ref_dcgan_discriminator() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(64, 5, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Dropout(0.3),
            layers.Conv2D(128, 5, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


def ref_dcgan() -> keras.Model:
    return adversarial(ref_dcgan_generator(), ref_dcgan_discriminator())


def ref_cnn_rnn() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((None, 64, 64, 3)),
            layers.TimeDistributed(layers.Conv2D(32, 3, activation="relu")),
            layers.TimeDistributed(layers.MaxPooling2D(2)),
            layers.TimeDistributed(layers.Conv2D(64, 3, activation="relu")),
            layers.TimeDistributed(layers.MaxPooling2D(2)),
            layers.TimeDistributed(layers.Flatten()),
            layers.LSTM(50),
            layers.Dense(10, activation="softmax"),
        ]
    )


def ref_attention() -> keras.Model:
    tokens = keras.Input((100,), dtype="int32")
    sequence = layers.LSTM(128, return_sequences=True)(layers.Embedding(10000, 128)(tokens))  # (T, 128)
    scores = layers.Dense(1)(layers.Dense(64, activation="tanh")(sequence))  # (T, 1)
    weights = layers.Softmax(axis=1)(scores)  # normalised across time
    context = layers.Flatten()(layers.Dot(axes=1)([weights, sequence]))  # sum over t of w_t * h_t
    return keras.Model(tokens, layers.Dense(1, activation="sigmoid")(context))


def ref_best_practices() -> keras.Model:
    regularizers = keras.regularizers
    return keras.Sequential(
        [
            keras.Input((784,)),
            layers.Dense(
                64, activation="relu", kernel_initializer="he_normal", kernel_regularizer=regularizers.L2(0.01)
            ),
            layers.BatchNormalization(),
            layers.Dropout(0.5),
            layers.Dense(
                64, activation="tanh", kernel_initializer="glorot_normal", kernel_regularizer=regularizers.L1(0.001)
            ),
            layers.LayerNormalization(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax", kernel_regularizer=regularizers.L1L2(l1=0.001, l2=0.01)),
        ]
    )


# (spec file, model name) -> its Keras reference. Every model of every spec must be here.
REFERENCES: dict[tuple[str, str], Callable[[], keras.Model]] = {
    ("mlp.arch", "MLP"): ref_mlp,
    ("cnn.arch", "CNN"): ref_cnn,
    ("lenet5.arch", "LeNet5"): ref_lenet5,
    ("resnet.arch", "ResNet"): ref_resnet,
    ("simple_rnn.arch", "SimpleRNNRegressor"): ref_simple_rnn,
    ("lstm.arch", "StackedLSTM"): ref_lstm,
    ("gru.arch", "GRUClassifier"): ref_gru,
    ("bidirectional.arch", "BidirectionalLSTM"): ref_bidirectional,
    ("autoencoder.arch", "Encoder"): ref_encoder,
    ("autoencoder.arch", "Decoder"): ref_decoder,
    ("autoencoder.arch", "Autoencoder"): ref_autoencoder,
    ("conv_autoencoder.arch", "ConvAutoencoder"): ref_conv_autoencoder,
    ("vae.arch", "VAEEncoder"): ref_vae_encoder,
    ("vae.arch", "VAEDecoder"): ref_vae_decoder,
    ("vae.arch", "VAE"): ref_vae,
    ("gan.arch", "Generator"): ref_generator,
    ("gan.arch", "Discriminator"): ref_discriminator,
    ("gan.arch", "GAN"): ref_gan,
    ("dcgan.arch", "DCGANGenerator"): ref_dcgan_generator,
    ("dcgan.arch", "DCGANDiscriminator"): ref_dcgan_discriminator,
    ("dcgan.arch", "DCGAN"): ref_dcgan,
    ("cnn_rnn.arch", "VideoClassifier"): ref_cnn_rnn,
    ("attention.arch", "AttentionClassifier"): ref_attention,
    ("best_practices.arch", "BestPractices"): ref_best_practices,
}
