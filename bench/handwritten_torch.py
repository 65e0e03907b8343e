"""PyTorch models written by hand for the architectures in specs/: the baseline that
bench/forward_speed.py times archdsl's generated PyTorch code against.

Each model is what a PyTorch user would write for the spec with its default parameters:
an ``nn.Module`` whose layers are all built in ``__init__``, ``nn.Sequential`` for plain
chains, fused ``nn.LSTM``/``nn.GRU`` modules (one ``nn.LSTM(num_layers=3)`` for a stack of
three), the final hidden state instead of slicing the output sequence, in-place ReLUs
where torchvision uses them, and ``nn.Flatten`` in PyTorch's own channels-first order.
Tensors are channels-first, images ``(N, C, H, W)`` and videos ``(N, C, T, H, W)`` (the
layout archdsl's PyTorch code takes, so that both get the same batch); sequences of
features are ``(N, T, F)``.

They keep the spec's parameter counts exactly (the benchmark checks this), but not its
numerics: weights use PyTorch's default initialisers, flattening is channels-first (Keras,
and archdsl's generated code, flatten channels-last), and the ResNet stem pads
symmetrically (``padding=3``; Keras's "same" pads 2 before and 3 after). Softmax and
sigmoid outputs are kept, so both sides do the same work.

``MODELS`` maps a spec file's stem to a :class:`Reference`: the spec's model name, a
builder, and the per-example input shapes (no batch axis). When a spec changes, change its
model here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Input:
    shape: tuple[int, ...]  # without the batch axis, channels-first
    dtype: torch.dtype = torch.float32
    high: int | None = None  # integer inputs (token ids) are drawn from [0, high)


@dataclass(frozen=True)
class Reference:
    model: str  # the model's name in the spec (the generated class)
    build: Callable[[], nn.Module]
    inputs: tuple[Input, ...]


# --------------------------------------------------------------------------- feed-forward


class MLP(nn.Module):
    """specs/mlp.arch: 784 -> 128 (ReLU) -> dropout -> 64 (ReLU) -> dropout -> 10 (softmax)."""

    def __init__(self, inputs=784, hidden=128, classes=10, dropout=0.2):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(inputs, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden // 2),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden // 2, classes),
            nn.Softmax(dim=1),
        )

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    """specs/cnn.arch: 3x3 convolutions of 32, 64, 64 filters, 2x2 max pooling after the first two."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 3 * 3, 64),
            nn.ReLU(),
            nn.Linear(64, classes),
            nn.Softmax(dim=1),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class LeNet5(nn.Module):
    """specs/lenet5.arch: two 5x5 tanh convolution + average-pooling stages, then 120-84-10."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.Tanh(),
            nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.Tanh(),
            nn.Linear(120, 84),
            nn.Tanh(),
            nn.Linear(84, classes),
            nn.Softmax(dim=1),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """torchvision's BasicBlock, with the spec's conv biases and Keras's BatchNorm epsilon."""

    def __init__(self, channels, kernel_size=3):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.bn1 = nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.bn2 = nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


class ResNet(nn.Module):
    """specs/resnet.arch: 7x7/2 stem, 3x3/2 max pool, three identity blocks of 64 filters, GAP, 1000 classes."""

    def __init__(self, classes=1000, blocks=3, filters=64):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, filters, 7, stride=2, padding=3),
            nn.BatchNorm2d(filters, eps=1e-3, momentum=0.01),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.blocks = nn.Sequential(*(BasicBlock(filters) for _ in range(blocks)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(filters, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = torch.flatten(self.pool(x), 1)
        return torch.softmax(self.fc(x), dim=1)


class ConvAutoencoder(nn.Module):
    """specs/conv_autoencoder.arch: 28x28x1 -> 4x4x8 code -> 28x28x1.

    ``ceil_mode=True`` is PyTorch's way to pool 7x7 down to 4x4 as Keras's "same" pooling does.
    """

    def __init__(self, filters=16, code_filters=8):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, filters, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(filters, code_filters, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(code_filters, code_filters, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(code_filters, code_filters, 3, padding=1),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(code_filters, code_filters, 3, padding=1),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(code_filters, filters, 3),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(filters, 1, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


# --------------------------------------------------------------------------- recurrent


class StackedLSTM(nn.Module):
    """specs/lstm.arch: three stacked LSTMs of 50 units (one fused nn.LSTM), dropout, Dense(1)."""

    def __init__(self, features=1, units=50, dropout=0.2):
        super().__init__()
        self.lstm = nn.LSTM(features, units, num_layers=3, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(units, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.fc(self.dropout(h[-1]))


class GRUClassifier(nn.Module):
    """specs/gru.arch: embedding, GRU(128) with input dropout, sigmoid output."""

    def __init__(self, vocab_size=10000, embedding_dim=128, units=128):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.dropout = nn.Dropout(0.2)
        self.gru = nn.GRU(embedding_dim, units, batch_first=True)
        self.fc = nn.Linear(units, 1)

    def forward(self, tokens):
        _, h = self.gru(self.dropout(self.embedding(tokens)))
        return torch.sigmoid(self.fc(h[-1]))


class BidirectionalLSTM(nn.Module):
    """specs/bidirectional.arch: embedding, bidirectional LSTM(64) (concatenated), dropout, sigmoid."""

    def __init__(self, vocab_size=10000, embedding_dim=128, units=64):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, units, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(2 * units, 1)

    def forward(self, tokens):
        _, (h, _) = self.lstm(self.embedding(tokens))
        features = torch.cat([h[-2], h[-1]], dim=1)  # last forward step, last backward step
        return torch.sigmoid(self.fc(self.dropout(features)))


class VideoClassifier(nn.Module):
    """specs/cnn_rnn.arch: one small CNN on every 64x64 frame (frames folded into the batch), LSTM(50), softmax."""

    def __init__(self, classes=10, units=50, filters=32):
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(3, filters, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(filters, filters * 2, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.lstm = nn.LSTM(filters * 2 * 14 * 14, units, batch_first=True)
        self.fc = nn.Linear(units, classes)

    def forward(self, frames):  # (N, C, T, H, W), as torchvision's video models and archdsl's torch target take
        n, t = frames.shape[0], frames.shape[2]
        features = self.cnn(frames.transpose(1, 2).flatten(0, 1)).view(n, t, -1)  # fold time into the batch
        _, (h, _) = self.lstm(features)
        return torch.softmax(self.fc(h[-1]), dim=1)


# spec file stem -> the hand-written model. Input shapes are the specs' defaults; where a spec
# leaves a length open (cnn_rnn's number of frames), the figure here is an example.
FRAMES = 8  # frames per clip for cnn_rnn (the spec's time axis is None)

MODELS: dict[str, Reference] = {
    "mlp": Reference("MLP", MLP, (Input((784,)),)),
    "cnn": Reference("CNN", CNN, (Input((1, 28, 28)),)),
    "lenet5": Reference("LeNet5", LeNet5, (Input((1, 32, 32)),)),
    "resnet": Reference("ResNet", ResNet, (Input((3, 224, 224)),)),
    "conv_autoencoder": Reference("ConvAutoencoder", ConvAutoencoder, (Input((1, 28, 28)),)),
    "lstm": Reference("StackedLSTM", StackedLSTM, (Input((60, 1)),)),
    "gru": Reference("GRUClassifier", GRUClassifier, (Input((200,), torch.int64, 10000),)),
    "bidirectional": Reference("BidirectionalLSTM", BidirectionalLSTM, (Input((200,), torch.int64, 10000),)),
    "cnn_rnn": Reference("VideoClassifier", VideoClassifier, (Input((3, FRAMES, 64, 64)),)),
}
