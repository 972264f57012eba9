"""The five examples of the PyTorch ``nn.Dropout`` tutorial (shared/seed/
pytorch-dropout-tutorial.txt), rewritten for numbadrop with NumPy inputs, each
asserting the behaviour the tutorial describes.

``numbadrop.manual_seed`` plays the part of ``torch.manual_seed``: the layers
draw from the default generator, as torch's do, and the seed makes each test
deterministic.
"""

from __future__ import annotations

import math

import naive
import numpy as np
import pytest

import numbadrop
import numbadrop.nn as nn


@pytest.fixture
def seeded():
    """Seed the default generator for the test, and reseed it from entropy afterwards."""
    numbadrop.manual_seed(20261126)
    yield 20261126
    numbadrop.manual_seed(np.random.SeedSequence().entropy % 2**64)


def within_5_sigma(count, n, p_keep):
    return abs(count - n * p_keep) < 5 * math.sqrt(n * p_keep * (1 - p_keep))


def test_example_1_basic_usage(seeded):
    # Create Dropout layer with 50% dropout rate
    dropout = nn.Dropout(p=0.5)
    # Training mode (Dropout active)
    dropout.train()
    input_tensor = np.ones((1, 10), np.float32)
    assert input_tensor.squeeze().tolist() == [1.0] * 10

    outputs = [dropout(input_tensor) for _ in range(3)]
    for i, output in enumerate(outputs):
        assert output.shape == (1, 10)
        # each element is zeroed, or kept and scaled by 1 / (1 - p) = 2
        assert set(output.squeeze().tolist()) <= {0.0, 2.0}
        # the contract's mask: the default generator's seed, one offset per call
        assert np.array_equal(output, naive.dropout(input_tensor, 0.5, seeded, i))
    # randomness: the calls do not repeat one mask
    assert len({o.tobytes() for o in outputs}) == 3
    assert np.all(input_tensor == 1)

    # "approximately half of the elements are randomly zeroed each time"
    zeros = sum(int((dropout(input_tensor) == 0).sum()) for _ in range(2000))
    assert within_5_sigma(zeros, 20_000, 0.5)


def test_example_2_training_vs_evaluation_mode(seeded):
    dropout = nn.Dropout(p=0.5)

    dropout.train()
    train_output = dropout(np.ones((4, 10), np.float32))
    ratio = float((train_output != 0).astype(np.float32).mean())
    assert 0.0 < ratio < 1.0
    assert np.array_equal(train_output != 0, naive.keep_mask((4, 10), 0.5, seeded, 0))

    dropout.eval()
    eval_input = np.ones((4, 10), np.float32)
    eval_output = dropout(eval_input)
    assert float((eval_output != 0).astype(np.float32).mean()) == 1.0
    # "In evaluation mode, Dropout does not take effect, and the output remains unchanged."
    assert eval_output.tolist() == [[1.0] * 10] * 4
    assert eval_output is eval_input

    # the activation ratio in training mode is 1 - p on average
    dropout.train()
    active = sum(int((dropout(np.ones((4, 10), np.float32)) != 0).sum()) for _ in range(500))
    assert within_5_sigma(active, 20_000, 0.5)


def test_example_3_dropout_in_a_network(seeded):
    if not hasattr(nn, "Linear"):
        pytest.skip("numbadrop.nn.Linear (and nn.ReLU) not available yet; Example 3's DropoutNet needs them")

    class DropoutNet(nn.Module):
        def __init__(self, input_dim=784, hidden_dim=256, output_dim=10, dropout_rate=0.5):
            super().__init__()
            self.fc1 = nn.Linear(input_dim, hidden_dim)
            self.dropout1 = nn.Dropout(p=dropout_rate)
            self.fc2 = nn.Linear(hidden_dim, hidden_dim)
            self.dropout2 = nn.Dropout(p=dropout_rate)
            self.fc3 = nn.Linear(hidden_dim, output_dim)
            self.relu = nn.ReLU()

        def forward(self, x):
            x = self.relu(self.fc1(x))
            x = self.dropout1(x)  # First Dropout
            x = self.relu(self.fc2(x))
            x = self.dropout2(x)  # Second Dropout
            x = self.fc3(x)
            return x

    model = DropoutNet()
    input_data = np.random.default_rng(0).standard_normal((32, 784)).astype(np.float32)

    # Training mode
    model.train()
    assert model.dropout1.training and model.dropout2.training
    output = model(input_data)
    assert output.shape == (32, 10)
    again = model(input_data)
    assert not np.array_equal(output, again)  # new masks on every call

    # Evaluation mode: dropout switched off in every submodule
    model.eval()
    assert not model.dropout1.training and not model.dropout2.training
    output_eval = model(input_data)
    assert output_eval.shape == (32, 10)
    assert np.array_equal(model(input_data), output_eval)  # deterministic
    without_dropout = model.fc3(model.relu(model.fc2(model.relu(model.fc1(input_data)))))
    assert np.array_equal(output_eval, without_dropout)
    assert not np.allclose(output, output_eval)


def test_example_4_dropout2d_in_cnns(seeded):
    # Dropout2d drops entire channels
    dropout2d = nn.Dropout2d(p=0.5)
    # Input: batch=1, channels=4, height=4, width=4
    input_tensor = np.ones((1, 4, 4, 4), np.float32)
    dropout2d.train()
    output = dropout2d(input_tensor)
    assert output.shape == (1, 4, 4, 4)
    nonzero_channels = int((output.sum(axis=(2, 3)) != 0).sum())
    keep = naive.keep_mask((1, 4, 1, 1), 0.5, seeded, 0)
    assert nonzero_channels == int(keep.sum())
    # each feature map is all zeros or all 2.0: "drops entire feature maps per channel"
    for c in range(4):
        assert set(np.unique(output[0, c]).tolist()) == ({2.0} if keep[0, c, 0, 0] else {0.0})

    kept = sum(int((dropout2d(input_tensor).sum(axis=(2, 3)) != 0).sum()) for _ in range(2000))
    assert within_5_sigma(kept, 8000, 0.5)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.7])
def test_example_5_effect_of_dropout_rates(seeded, p):
    dropout = nn.Dropout(p=p)
    dropout.train()

    # Run multiple times and average
    total_active = 0
    for _ in range(100):
        output = dropout(np.ones(1000, np.float32))
        total_active += float((output != 0).astype(np.float32).sum())
        # the kept units carry the scale that keeps the expectation at 1
        assert np.all(output[output != 0] == np.float32(1 / (1 - p)))

    avg_active = total_active / 100 / 1000
    assert within_5_sigma(total_active, 100_000, 1 - p), f"p={p} - Average activation ratio: {avg_active:.2%}"
