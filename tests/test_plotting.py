"""actlab.plotting: the colour table, and what each plot actually draws (labels, legends, colours, data)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from actlab import plotting  # noqa: E402
from actlab.plotting import ACTIVATION_COLORS, color_of  # noqa: E402

BOOK_ACTIVATIONS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu", "softplus",
                    "softmax", "gelu", "silu", "glu", "reglu", "geglu", "swiglu", "bilinear"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def curves(ax):
    """The labeled lines (not the grey axes through the origin)."""
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def test_every_activation_has_its_own_colour():
    assert set(BOOK_ACTIVATIONS) <= set(ACTIVATION_COLORS)
    colours = [mcolors.to_hex(c) for c in ACTIVATION_COLORS.values()]
    assert len(set(colours)) == len(colours)


@pytest.mark.parametrize("name, key", [("swish", "silu"), ("SiLU", "silu"), ("Leaky-ReLU", "leaky_relu"),
                                       ("identity", "linear"), ("gelu_tanh", "gelu"), ("relu (torch)", "relu"),
                                       ("leaky_relu_0.1", "leaky_relu"), ("GeGLU", "geglu")])
def test_names_variants_and_aliases_map_to_one_colour(name, key):
    assert color_of(name) == ACTIVATION_COLORS[key]


def test_unknown_names_raise_unless_a_default_is_given():
    with pytest.raises(KeyError, match="no colour for activation 'mish'"):
        color_of("mish")
    assert color_of("mish", default="#000000") == "#000000"
    assert color_of("mish", default=None) is None


def test_shades_go_from_light_to_dark_in_the_same_hue():
    sh = plotting.shades("relu", 5)
    assert len(sh) == 5 == len(set(sh))
    lum = [np.dot(mcolors.to_rgb(c), [0.299, 0.587, 0.114]) for c in sh]
    assert all(a > b for a, b in zip(lum, lum[1:]))
    hue = [mcolors.rgb_to_hsv(mcolors.to_rgb(c))[0] for c in sh]
    base = mcolors.rgb_to_hsv(mcolors.to_rgb(ACTIVATION_COLORS["relu"]))[0]
    assert np.allclose(hue, base, atol=0.02)


def test_plot_activation_draws_function_and_derivative_side_by_side():
    relu = lambda x: np.maximum(x, 0)  # noqa: E731
    drelu = lambda x: (x > 0).astype(float)  # noqa: E731
    fig, (ax_f, ax_d) = plotting.plot_activation(relu, drelu, name="relu")
    assert len(fig.axes) == 2
    assert (ax_f.get_xlabel(), ax_f.get_ylabel(), ax_d.get_ylabel()) == ("x", "f(x)", "f′(x)")
    assert (ax_f.get_title(), ax_d.get_title()) == ("function", "derivative")
    assert legend_texts(ax_f) == ["relu"] and legend_texts(ax_d) == ["relu′"]
    (lf,), (ld,) = curves(ax_f), curves(ax_d)
    assert mcolors.to_hex(lf.get_color()) == mcolors.to_hex(ACTIVATION_COLORS["relu"]) == mcolors.to_hex(ld.get_color())
    x = lf.get_xdata()
    assert x.min() == -5 and x.max() == 5
    np.testing.assert_array_equal(lf.get_ydata(), relu(x))
    np.testing.assert_array_equal(ld.get_ydata(), drelu(x))


def test_plot_activation_overlays_and_falls_back_to_a_numeric_derivative():
    fig, axes = plotting.plot_activation(np.tanh, lambda x: 1 - np.tanh(x) ** 2, name="tanh")
    plotting.plot_activation(lambda x: x / (1 + np.exp(-x)), name="silu", axes=axes, linestyle="--")
    assert legend_texts(axes[0]) == ["tanh", "silu"]
    silu_d = curves(axes[1])[1]
    assert silu_d.get_linestyle() == "--" and mcolors.to_hex(silu_d.get_color()) == ACTIVATION_COLORS["silu"].lower()
    x = silu_d.get_xdata()
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(silu_d.get_ydata(), s * (1 + x * (1 - s)), atol=1e-8)


def test_plot_activation_by_name_uses_the_reference_and_its_gradient():
    from actlab import numpy_ref
    fig, (ax_f, ax_d) = plotting.plot_activation("sigmoid", x=np.linspace(-3, 3, 7))
    np.testing.assert_allclose(curves(ax_f)[0].get_ydata(), numpy_ref.sigmoid(np.linspace(-3, 3, 7)))
    np.testing.assert_allclose(curves(ax_d)[0].get_ydata(), numpy_ref.sigmoid_grad(np.linspace(-3, 3, 7)))
    assert mcolors.to_hex(curves(ax_f)[0].get_color()) == ACTIVATION_COLORS["sigmoid"].lower()
    with pytest.raises(ValueError, match="no function 'mish'"):
        plotting.plot_activation("mish")


def test_parameter_sweep_uses_shades_and_labels_the_parameter():
    leaky = lambda x, slope: np.where(x > 0, x, slope * x)  # noqa: E731
    fig, (ax_f, ax_d) = plotting.plot_activation_sweep(leaky, "slope", [0.01, 0.1, 0.3], name="leaky_relu",
                                                       symbol="γ")
    assert legend_texts(ax_f) == ["γ = 0.01", "γ = 0.1", "γ = 0.3"]
    assert [mcolors.to_hex(line.get_color()) for line in curves(ax_f)] == plotting.shades("leaky_relu", 3)
    assert ax_f.get_title() == "leaky_relu: function"
    np.testing.assert_allclose(curves(ax_d)[2].get_ydata()[:10], 0.3, atol=1e-6)  # numeric derivative


def test_decision_boundary_shows_probability_boundary_and_both_classes():
    X = np.array([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]])
    y = np.array([0, 0, 1, 1])
    fig, ax = plotting.figure(1)
    plotting.plot_decision_boundary(ax, lambda P: 1 / (1 + np.exp(-4 * P[:, 0])), X, y, activation="tanh",
                                    title="tanh")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x₁", "x₂")
    assert mcolors.to_hex(ax.title.get_color()) == ACTIVATION_COLORS["tanh"].lower()
    scatters = [c for c in ax.collections if c.get_label() in ("class 0", "class 1")]
    assert [c.get_label() for c in scatters] == ["class 0", "class 1"]
    assert [len(c.get_offsets()) for c in scatters] == [2, 2]
    boundary = [c for c in ax.collections if hasattr(c, "get_edgecolor") and c not in scatters
                and len(c.get_edgecolor()) and mcolors.to_hex(c.get_edgecolor()[0]) == ACTIVATION_COLORS["tanh"].lower()]
    assert boundary, "the p = 0.5 contour is drawn in the activation's colour"


def test_mean_spread_draws_mean_band_and_seeds():
    fig, ax = plotting.figure(1)
    v = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 5.0]])
    line = plotting.plot_mean_spread(ax, [1, 2], v, label="relu")
    np.testing.assert_allclose(line.get_ydata(), [2.0, 3.0])
    assert mcolors.to_hex(line.get_color()) == ACTIVATION_COLORS["relu"].lower()
    assert "mean, min–max over 3 seeds" in line.get_label()
    (band,) = [c for c in ax.collections]
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == 1.0 and ys.max() == 5.0
    seeds = ax.get_lines()[1]
    assert len(seeds.get_xdata()) == 6
    with pytest.raises(ValueError, match="shape"):
        plotting.plot_mean_spread(ax, [1, 2, 3], v, label="relu")
    line = plotting.plot_mean_spread(ax, [1, 2], v, label="x", band="std", color="#123456")
    assert "± std" in line.get_label()


def test_sweep_plot_labels_axes_scales_and_legend():
    fig, ax = plotting.figure(1)
    res = {"relu": np.ones((3, 2)), "tanh": 2 * np.ones((3, 2))}
    plotting.plot_sweep(ax, [1, 2, 4], res, xlabel="width", ylabel="error", logx=True, logy=True)
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale(), ax.get_yscale()) == ("width", "error", "log", "log")
    assert [t.split(" ")[0] for t in legend_texts(ax)] == ["relu", "tanh"]


def test_spread_bars_are_means_with_activation_colours():
    fig, ax = plotting.figure(1)
    plotting.plot_spread_bars(ax, {"relu": [0.9, 1.0], "linear": [0.5, 0.7]}, ylabel="accuracy")
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, [0.95, 0.6])
    assert [mcolors.to_hex(p.get_facecolor()) for p in ax.patches] == [ACTIVATION_COLORS["relu"].lower(),
                                                                       ACTIVATION_COLORS["linear"].lower()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["relu", "linear"] and ax.get_ylabel() == "accuracy"


def test_figure_is_sized_for_the_page():
    fig, axes = plotting.figure(2)
    assert tuple(fig.get_size_inches()) == (7.5, 3.0) and len(axes) == 2
    fig, axes = plotting.figure(3, nrows=2)
    assert axes.shape == (2, 3) and tuple(fig.get_size_inches()) == (7.5, 6.0)
