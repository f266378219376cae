"""A figure of a dense autoencoder drawn from the model itself: one box per Dense layer with its sizes and activation.

``layer_rows`` reads the layers (so the picture can never disagree with the model), ``network_figure`` draws them
left to right: the encoder f_θ, the code z, the decoder g_φ. Used by ``python -m scratchae.train`` (network.png in
the run folder), by lesson 05 and by the hand-in's report.
"""
import matplotlib.patches

from .plots import subplots

PART_COLOURS = {"encoder": "#cfe2f3", "decoder": "#fce5cd"}
CODE_COLOUR = "#d9ead3"


def kind_of(layer):
    """A layer's class name: 'Dense', 'ReLU', 'Sigmoid' (a student's own classes work too)."""
    return type(layer).__name__


def layer_rows(model):
    """The model as a list of dicts, one per Dense layer: part, index l (1-based), n_in, n_out, activation.

    model: an Autoencoder whose encoder and decoder (Sequentials, or lists as in lesson 05) hold Dense layers, each
    followed by an activation or none (a linear code). Raises ValueError for other layers (no conv pictures here).
    """
    rows = []
    for part in ("encoder", "decoder"):
        layers = getattr(model, part)
        layers = list(getattr(layers, "layers", layers))
        for i, layer in enumerate(layers):
            kind = kind_of(layer)
            if kind in ("ReLU", "Sigmoid"):
                if i == 0 or kind_of(layers[i - 1]) != "Dense":
                    raise ValueError(f"{part} layer {i}: an activation {kind} not after a Dense layer")
                continue
            if kind != "Dense":
                raise ValueError(f"{part} layer {i}: {kind} is not drawn; the network figure shows dense models")
            W = layer.params["W"]  # (n_in, n_out)
            follows = kind_of(layers[i + 1]) if i + 1 < len(layers) else None
            rows.append({"part": part, "l": len(rows) + 1, "n_in": int(W.shape[0]), "n_out": int(W.shape[1]),
                         "activation": follows if follows in ("ReLU", "Sigmoid") else "none"})
    return rows


def count_params(rows):
    """Number of parameters of the Dense layers in ``rows``: sum of n_in * n_out + n_out."""
    return sum(r["n_in"] * r["n_out"] + r["n_out"] for r in rows)


def network_figure(model, path, title=None):
    """Save the dense autoencoder ``model`` as boxes left to right (PNG at ``path``); returns layer_rows(model)."""
    rows = layer_rows(model)
    n = len(rows)
    fig, ax = subplots(figsize=(1.25 * n + 2.2, 3.6))
    ax.set_xlim(-1.3, n + 0.9)
    ax.set_ylim(-1.25, 1.55)
    ax.set_axis_off()
    biggest = max(max(r["n_in"], r["n_out"]) for r in rows)
    for k, r in enumerate(rows):
        height = 0.9 + 0.9 * (r["n_out"] / biggest) ** 0.5  # taller for wider layers, the narrow ones still readable
        box = matplotlib.patches.FancyBboxPatch((k + 0.08, -height / 2), 0.84, height, boxstyle="round,pad=0.02",
                                                facecolor=PART_COLOURS[r["part"]], edgecolor="#444444")
        ax.add_patch(box)
        act = "(linear)" if r["activation"] == "none" else r["activation"]
        ax.text(k + 0.5, 0, f"Dense {r['l']}\n{r['n_in']}→{r['n_out']}\n{act}", ha="center", va="center",
                fontsize=10)
        if k:
            ax.annotate("", xy=(k + 0.08, 0), xytext=(k - 0.08, 0), arrowprops={"arrowstyle": "->", "lw": 0.8})
    n_enc = sum(r["part"] == "encoder" for r in rows)
    code = rows[n_enc - 1]["n_out"]
    ax.text(-0.65, 0, f"x\n{rows[0]['n_in']}", ha="center", va="center", fontsize=10)
    ax.annotate("", xy=(0.08, 0), xytext=(-0.35, 0), arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.text(n + 0.5, 0, f"x̂\n{rows[-1]['n_out']}", ha="center", va="center", fontsize=10)
    ax.annotate("", xy=(n + 0.25, 0), xytext=(n - 0.08, 0), arrowprops={"arrowstyle": "->", "lw": 0.8})
    # The code z sits between encoder and decoder: a green marker on the boundary.
    ax.add_patch(matplotlib.patches.Rectangle((n_enc - 0.1, -0.3), 0.2, 0.6, facecolor=CODE_COLOUR,
                                              edgecolor="#444444", zorder=3))
    ax.text(n_enc, -1.1, f"code z ({code})", ha="center", va="center", fontsize=10)
    for part, first, last, name in (("encoder", 0, n_enc, "encoder z = f_θ(x)"),
                                    ("decoder", n_enc, n, "decoder x̂ = g_φ(z)")):
        if first == last:
            continue
        ax.plot([first + 0.08, last - 0.08], [1.2, 1.2], color="#444444", lw=1)
        ax.text((first + last) / 2, 1.38, name, ha="center", va="center", fontsize=10)
    ax.set_title(title or f"{'-'.join(str(r['n_in']) for r in rows[:n_enc])}-{code} autoencoder, "
                          f"{count_params(rows):,} parameters", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return rows
