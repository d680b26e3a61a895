"""11_transposed_conv: trans_conv, trans_conv_channels and kernel2matrix against torch's convolutions (hypothesis),
and the widget's layout against nn.ConvTranspose2d."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

import d2lx
from d2lx.transposed_conv import kernel2matrix, trans_conv_channels


@st.composite
def transposed_cases(draw, channels=False):
    c_i, c_o = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if channels else (1, 1)
    n_h, n_w, k_h, k_w = (draw(st.integers(1, 6)) for _ in range(4))
    stride = draw(st.integers(1, 4))
    padding = draw(st.integers(0, (min(k_h, k_w) - 1) // 2))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 31 - 1)))
    X = torch.randn(c_i, n_h, n_w, generator=g, dtype=torch.float64)
    K = torch.randn(c_i, c_o, k_h, k_w, generator=g, dtype=torch.float64)
    return X, K, stride, padding


@settings(max_examples=200)
@given(transposed_cases())
def test_trans_conv_equals_conv_transpose2d(case):
    X, K, stride, padding = case
    expected = F.conv_transpose2d(X[None], K, stride=stride, padding=padding)[0, 0]
    torch.testing.assert_close(d2lx.trans_conv(X[0], K[0, 0], stride, padding), expected)


@settings(max_examples=100)
@given(transposed_cases(channels=True))
def test_trans_conv_channels_equals_conv_transpose2d(case):
    X, K, stride, padding = case
    expected = F.conv_transpose2d(X[None], K, stride=stride, padding=padding)[0]
    torch.testing.assert_close(trans_conv_channels(X, K, stride, padding), expected)


def test_trans_conv_book_example_dtypes_and_gradients():
    X = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    assert torch.equal(d2lx.trans_conv(X, X), torch.tensor([[0.0, 0, 1], [0, 4, 6], [4, 12, 9]]))
    assert d2lx.trans_conv(X.half(), X.half()).dtype == torch.float16
    assert d2lx.trans_conv(X.double(), X).dtype == torch.float64
    a, k = torch.randn(3, 4, requires_grad=True), torch.randn(2, 3, requires_grad=True)
    d2lx.trans_conv(a, k, stride=2, padding=1).square().sum().backward()
    a2, k2 = a.detach().clone().requires_grad_(), k.detach().clone().requires_grad_()
    F.conv_transpose2d(a2[None, None], k2[None, None], stride=2, padding=1).square().sum().backward()
    torch.testing.assert_close(a.grad, a2.grad)
    torch.testing.assert_close(k.grad, k2.grad)


@settings(max_examples=100)
@given(st.integers(1, 7), st.integers(1, 7), st.data())
def test_kernel2matrix_is_the_convolution_and_its_transpose(n_h, n_w, data):
    k_h, k_w = data.draw(st.integers(1, n_h)), data.draw(st.integers(1, n_w))
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2 ** 31 - 1)))
    X = torch.randn(n_h, n_w, generator=g, dtype=torch.float64)
    K = torch.randn(k_h, k_w, generator=g, dtype=torch.float64)
    W = kernel2matrix(K.float(), (n_h, n_w)).double()
    Y = F.conv2d(X[None, None], K[None, None])[0, 0]
    assert W.shape == (Y.numel(), X.numel())
    torch.testing.assert_close((W @ X.reshape(-1)).reshape(Y.shape), Y, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close((W.T @ Y.reshape(-1)).reshape(X.shape), d2lx.trans_conv(Y, K), atol=1e-5, rtol=1e-5)


def test_kernel2matrix_book_case():
    K = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    k = torch.tensor([1.0, 2, 0, 3, 4])
    book = torch.zeros(4, 9)  # the book's kernel2matrix, written out
    book[0, :5], book[1, 1:6], book[2, 3:8], book[3, 4:] = k, k, k, k
    assert torch.equal(kernel2matrix(K, (3, 3)), book)


@settings(max_examples=150)
@given(st.integers(1, 6), st.integers(1, 8), st.integers(1, 4), st.integers(0, 3))
def test_layout_matches_conv_transpose(n, kernel, stride, padding):
    size = (n - 1) * stride - 2 * padding + kernel
    if size < 1:
        with pytest.raises(ValueError, match="padding"):
            d2lx.widgets.trans_conv_layout(n, kernel, stride, padding)
        return
    layout = d2lx.widgets.trans_conv_layout(n, kernel, stride, padding)
    out = nn.ConvTranspose2d(1, 1, kernel, stride, padding)(torch.zeros(1, 1, n, n))
    assert layout["size"] == out.shape[-1] == size
    # the from-scratch op counts the writes as well: all-ones input and kernel
    ones = d2lx.trans_conv(torch.ones(n, n), torch.ones(kernel, kernel), stride, padding)
    assert torch.equal(layout["coverage"], ones.long())


def test_layout_bad_input_and_the_checkerboard():
    for kwargs, match in ((dict(n=0), "n must"), (dict(stride=1.5), "stride must"), (dict(padding=-1), "padding")):
        with pytest.raises(ValueError, match=match):
            d2lx.widgets.trans_conv_layout(**(dict(n=3, kernel=3, stride=2, padding=0) | kwargs))
    _, uneven = d2lx.widgets.draw_trans_conv(4, 3, 2, 0)
    _, even = d2lx.widgets.draw_trans_conv(4, 4, 2, 1)
    inner = uneven["coverage"][2:-2, 2:-2]
    assert not uneven["even"] and inner.min() < inner.max()
    inner = even["coverage"][2:-2, 2:-2]
    assert even["even"] and inner.min() == inner.max() == 4


def test_transposed_conv_widget_follows_its_controls():
    view = d2lx.widgets.TransposedConvView(n=3, kernel=3, stride=2, padding=0)
    assert view.state["size"] == 7 and "checkerboard" in view.caption.value
    view.controls["kernel"].value = 4
    assert view.state["size"] == 8 and view.state["even"]
    view.controls["pixel"].value = 4
    assert view.state["pixel"] == (1, 1) and view.state["window"] == (2, 2, 4)
    view.controls["padding"].value = 3
    view.controls["n"].value = 2
    view.controls["stride"].value = 1
    assert "error" in view.state and "padding 3 removes the whole output" in view.caption.value
