"""The demo models of the flagship inference server, as plain `torch.nn.Module` classes.

`scripts/build_models.py` builds them from a fixed seed and saves them into a model
repository (TorchScript files, and a state dict of the classifier that the runtime
loads through `inference.models:TinyConvNet`). The weights are random: these models
exercise the server (batching, streaming, limits), they answer nothing meaningful.
Only this module and the build script import torch in this package; the server itself
speaks the runtime's torch-free tensors.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGE_CHANNELS = 3
IMAGE_SIZE = 32
NUM_CLASSES = 10
# Byte-level text: a token is one byte, so any UTF-8 prompt encodes without a tokenizer.
VOCAB_SIZE = 256


class TinyConvNet(nn.Module):
    """A small convolutional image classifier: 3x32x32 FP32 images -> 10 logits.

    A 4x4 patch stem (32x32 -> 8x8), two strided 2x2 convolutions down to 2x2, then
    `depth` 3x3 convolutions of `width` channels at 2x2 and a linear head: about 2
    million weights and about 9 million multiply-adds per image. Like a model on a
    GPU, a lone image is bound by the per-call cost (reading every layer's weights, one
    dispatch per operator), not by arithmetic: on one CPU thread a forward pass takes a
    few milliseconds at batch 1 and not much more at batch 32, so a server that batches
    answers many times more images per second than one that runs each request alone.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 128, depth: int = 12) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(IMAGE_CHANNELS, width, 4, stride=4),
            nn.ReLU(),
            nn.Conv2d(width, width, 2, stride=2),
            nn.ReLU(),
            nn.Conv2d(width, width, 2, stride=2),
            nn.ReLU(),
        ]
        for _ in range(depth):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(torch.flatten(self.features(image), 1))
        return logits


class CharLM(nn.Module):
    """A small autoregressive byte-level language model: token ids [batch, length]
    (INT64) and the GRU's hidden state after the tokens before them (None at the
    start) -> the logits of the next token [batch, 256] and the hidden state after
    `tokens`. Served with `[generate] state = true`: the first step reads the prompt,
    each later step only the token it chose, instead of the whole prefix again. Greedy
    decoding feeds the argmax back in, one token per step, which is what the streamed
    predict yields."""

    def __init__(self, vocab_size: int = VOCAB_SIZE, hidden: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(
        self, tokens: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        states, hidden = self.rnn(self.embed(tokens), state)
        logits: torch.Tensor = self.out(states[:, -1, :])
        return logits, hidden


class AddOne(nn.Module):
    """A trivial model, x -> x + 1 on FP32 vectors: the server's own overhead with
    almost no model time, for small-request throughput."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1.0


class SlowIdentity(nn.Module):
    """Sleeps `delay_s` per forward pass, then returns its input: a model whose
    queue fills up in tests (deadlines expiring while queued, drains under load).
    The sleep is a Python call, so it is saved as a state dict, not TorchScript."""

    def __init__(self, delay_s: float = 0.5) -> None:
        super().__init__()
        self.delay_s = delay_s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import time

        time.sleep(self.delay_s)
        return x.clone()
