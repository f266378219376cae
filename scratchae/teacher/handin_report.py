"""report.md of a hand-in: the assignment's report with every fact filled in from the run, the rest left as prompts.

Sections in the assignment's order: overview, network (figure, layer list, settings, parameter count), formulas,
running it on Colab, environment, results (loss curve, reconstructions of test images), references. Written in
English or Japanese (``lang``); the student's parts are lines starting with ``>`` that say what to write.
"""
PIXELS = 784

TEXT = {
    "en": {
        "title": "# Autoencoder on MNIST: report",
        "name": "> Your name and student number.",
        "overview": "## 1. Overview",
        "overview_prompt": ("> In three or four sentences of your own: what an autoencoder is, what this one learns "
                            "(784 pixels squeezed into a code of {code} numbers and back) and what you found."),
        "network": "## 2. The network",
        "figure": "![The network, drawn from the trained model]({figure})",
        "layers_head": "| l | part | Dense | activation | parameters |\n|---|---|---|---|---|",
        "parts": {"encoder": "encoder", "decoder": "decoder"},
        "param_total": "{params:,} parameters in all ({n_dense} Dense layers, {n_act} activations: {layers} layers).",
        "settings_head": "| setting | value |\n|---|---|",
        "settings": [("data set", "{dataset}"), ("images trained on", "{n_train}"), ("held out for validation",
                     "{n_val}"), ("test images", "10,000"), ("epochs", "{epochs}"), ("minibatch size", "{batch}"),
                     ("optimizer", "Adam, learning rate {lr:g}, β1 = 0.9, β2 = 0.999, ε = 1e-8"),
                     ("loss", "binary cross-entropy (BCE), mean per pixel in training"),
                     ("output bias at the start", "{bias}"), ("seed", "{seed}")],
        "formulas": "## 3. Formulas",
        "formulas_intro": ("The encoder f_θ maps an image x (a row of {pixels} pixels in [0, 1]) to the code z, "
                           "the decoder g_φ maps z back to the reconstruction x̂. θ = {{W_l, b_l : l = 1..{n_enc}}} "
                           "are the encoder's weights and biases, φ = {{W_l, b_l : l = {n_enc1}..{n_dense}}} the "
                           "decoder's. The lessons write a layer as x W + b (x a row vector, W of shape "
                           "(in, out)); slides often write W x + b with column vectors: the same layer, transposed."),
        "losses": ("ReLU(u) = max(u, 0), σ(u) = 1 / (1 + e^(−u)), elementwise.\n\n"
                   "BCE summed over the {pixels} pixels of one image:\n\n"
                   "    L(x, x̂) = − Σ_{{j=1..{pixels}}} [ x_j log x̂_j + (1 − x_j) log(1 − x̂_j) ]\n\n"
                   "The program prints the mean over pixels (and images), L / {pixels}: multiply by {pixels} for "
                   "nats per image. With Adam the sum and the mean train almost alike (Adam divides each step by "
                   "the gradient's size, so scaling the loss changes nothing but the effect of ε); with plain SGD "
                   "the learning rate would have to shrink {pixels} times."),
        "formulas_prompt": "> In your words: what each formula does, and why the output layer has a Sigmoid.",
        "colab": "## 4. How to run it on Colab",
        "colab_steps": ("1. Open lesson 05 from its \"Open in Colab\" badge.\n"
                        "2. Runtime → Change runtime type → T4 GPU (optional: the CPU works, more slowly).\n"
                        "3. Run every cell (Runtime → Run all); the first cell installs scratchae.\n"
                        "4. The last cell packs the hand-in into Google Drive (MyDrive/scratchae)."),
        "environment": "## 5. Environment",
        "env_head": "| item | value |\n|---|---|",
        "env_names": {"device": "device", "platform": "platform", "array_namespace": "array namespace"},
        "results": "## 6. Results",
        "final": ("After {epochs} epochs: test BCE {test:.4f} per pixel = {test_img:.1f} nats per image "
                  "(train {train:.4f}{val}).{time}"),
        "time": " Mean time per epoch: {seconds:.1f} s on {where}.",
        "val": ", validation {val:.4f}",
        "curve": "![Loss per epoch]({figure})",
        "recon": "![Test images (top) and their reconstructions (bottom)]({figure})",
        "results_prompt": "> What you observe: how the loss falls, which digits come back well or badly, and why.",
        "references": "## 7. References",
        "refs": ("- D. P. Kingma, J. Ba. Adam: A Method for Stochastic Optimization. ICLR 2015, arXiv:1412.6980.\n"
                 "- G. E. Hinton, R. R. Salakhutdinov. Reducing the Dimensionality of Data with Neural Networks. "
                 "Science 313, 2006.\n"
                 "- Y. LeCun, C. Cortes, C. J. C. Burges. The MNIST database of handwritten digits.\n"
                 "- scratchae, lessons 01 to 05.\n"
                 "\n> Add what else you read."),
    },
    "ja": {
        "title": "# MNIST のオートエンコーダ: レポート",
        "name": "> 氏名と学籍番号を書いてください。",
        "overview": "## 1. 概要",
        "overview_prompt": ("> 自分の言葉で 3〜4 文: オートエンコーダとは何か、このモデルが何を学ぶか"
                            "(784 画素を {code} 個の数の潜在表現に縮めて戻す)、何がわかったか。"),
        "network": "## 2. ネットワーク",
        "figure": "![学習したモデルから描いたネットワーク]({figure})",
        "layers_head": "| l | 部分 | Dense | 活性化関数 | パラメータ数 |\n|---|---|---|---|---|",
        "parts": {"encoder": "エンコーダ", "decoder": "デコーダ"},
        "param_total": "パラメータは全部で {params:,} 個です(Dense 層 {n_dense} 個、活性化 {n_act} 個: 全 {layers} 層)。",
        "settings_head": "| 設定 | 値 |\n|---|---|",
        "settings": [("データセット", "{dataset}"), ("学習に使う画像", "{n_train}"), ("検証用に取り置く画像", "{n_val}"),
                     ("テスト画像", "10,000"), ("エポック数", "{epochs}"), ("ミニバッチの大きさ", "{batch}"),
                     ("最適化手法", "Adam、学習率 {lr:g}、β1 = 0.9、β2 = 0.999、ε = 1e-8"),
                     ("損失関数", "二値交差エントロピー (BCE)、学習では画素あたりの平均"),
                     ("出力層のバイアスの初期値", "{bias}"), ("シード", "{seed}")],
        "formulas": "## 3. 数式",
        "formulas_intro": ("エンコーダ f_θ は画像 x({pixels} 画素の行ベクトル、値は [0, 1])を潜在表現 z に写し、"
                           "デコーダ g_φ は z を再構成 x̂ に戻します。θ = {{W_l, b_l : l = 1..{n_enc}}} はエンコーダの"
                           "重みとバイアス、φ = {{W_l, b_l : l = {n_enc1}..{n_dense}}} はデコーダのものです。"
                           "レッスンでは層を x W + b(x は行ベクトル、W の形は (入力, 出力))と書きます。"
                           "スライドでは列ベクトルで W x + b と書くことが多いですが、転置しただけの同じ層です。"),
        "losses": ("ReLU(u) = max(u, 0)、σ(u) = 1 / (1 + e^(−u))、どちらも要素ごとです。\n\n"
                   "1 枚の画像の {pixels} 画素について和をとった BCE:\n\n"
                   "    L(x, x̂) = − Σ_{{j=1..{pixels}}} [ x_j log x̂_j + (1 − x_j) log(1 − x̂_j) ]\n\n"
                   "プログラムが表示するのは画素(と画像)についての平均 L / {pixels} です。{pixels} 倍すると"
                   "画像 1 枚あたりの nats になります。Adam では和と平均でほとんど同じように学習が進みます"
                   "(Adam は各ステップを勾配の大きさで割るので、損失の定数倍は ε の効き方しか変えません)。"
                   "素朴な SGD なら学習率を {pixels} 分の 1 にする必要があります。"),
        "formulas_prompt": "> 自分の言葉で: それぞれの式が何をするか、出力層がなぜ Sigmoid なのか。",
        "colab": "## 4. Colab での実行方法",
        "colab_steps": ("1. レッスン 05 を「Open in Colab」バッジから開きます。\n"
                        "2. ランタイム → ランタイムのタイプを変更 → T4 GPU(任意: CPU でも動きますが遅くなります)。\n"
                        "3. すべてのセルを実行します(ランタイム → すべてのセルを実行)。最初のセルが scratchae を"
                        "インストールします。\n"
                        "4. 最後のセルが提出物を Google ドライブ(MyDrive/scratchae)にまとめます。"),
        "environment": "## 5. 実行環境",
        "env_head": "| 項目 | 値 |\n|---|---|",
        "env_names": {"device": "デバイス", "platform": "プラットフォーム", "array_namespace": "配列の名前空間"},
        "results": "## 6. 結果",
        "final": ("{epochs} エポック後: テスト BCE は画素あたり {test:.4f}、画像 1 枚あたり {test_img:.1f} nats"
                  "(学習 {train:.4f}{val})。{time}"),
        "time": "1 エポックの平均時間: {seconds:.1f} 秒({where})。",
        "val": "、検証 {val:.4f}",
        "curve": "![エポックごとの損失]({figure})",
        "recon": "![テスト画像(上)とその再構成(下)]({figure})",
        "results_prompt": "> 観察したこと: 損失がどう下がったか、どの数字がよく(悪く)再構成されたか、その理由。",
        "references": "## 7. 参考文献",
        "refs": ("- D. P. Kingma, J. Ba. Adam: A Method for Stochastic Optimization. ICLR 2015, arXiv:1412.6980.\n"
                 "- G. E. Hinton, R. R. Salakhutdinov. Reducing the Dimensionality of Data with Neural Networks. "
                 "Science 313, 2006.\n"
                 "- Y. LeCun, C. Cortes, C. J. C. Burges. The MNIST database of handwritten digits.\n"
                 "- 斎藤康毅『ゼロから作る Deep Learning』オライリー・ジャパン, 2016.\n"
                 "- scratchae、レッスン 01〜05。\n"
                 "\n> ほかに読んだものを足してください。"),
    },
}
BIAS = {"en": {"mean": "logit of the mean training image", "zero": "zero"},
        "ja": {"mean": "学習画像の平均のロジット", "zero": "0"}}


def layer_formulas(rows):
    """The model layer by layer, e.g. ['h1 = ReLU(x W1 + b1)', ..., 'x̂ = σ(h9 W10 + b10)'] from netfig rows."""
    n_enc = sum(r["part"] == "encoder" for r in rows)
    lines = []
    for r in rows:
        l = r["l"]
        source = "x" if l == 1 else "z" if l == n_enc + 1 else f"h{l - 1}"
        target = "x̂" if l == len(rows) else f"h{l}"
        act = {"ReLU": "ReLU", "Sigmoid": "σ", "none": ""}[r["activation"]]
        lines.append(f"{target} = {act}({source} W{l} + b{l})" if act else f"{target} = {source} W{l} + b{l}")
        if l == n_enc:
            lines.append(f"z = h{l}")
    return lines


def report_markdown(lang, rows, cfg, metrics, environment, figures):
    """The report as Markdown text.  rows: netfig.layer_rows of the model; cfg: config.json; metrics: metrics.csv
    rows (dicts of floats); environment: list of (item, value); figures: {"network", "curve", "recon"} -> path."""
    t = TEXT[lang]
    n_enc, n_dense = sum(r["part"] == "encoder" for r in rows), len(rows)
    n_act = sum(r["activation"] != "none" for r in rows)
    params = sum(r["n_in"] * r["n_out"] + r["n_out"] for r in rows)
    n_val = cfg.get("validation") or 0
    n_train = cfg.get("limit") or 60000 - n_val
    facts = {"dataset": cfg["dataset"], "n_train": f"{n_train:,}", "n_val": f"{n_val:,}", "epochs": cfg["epochs"],
             "batch": cfg["batch_size"], "lr": cfg["lr"], "seed": cfg["seed"],
             "bias": BIAS[lang].get(cfg.get("output_bias"), cfg.get("output_bias"))}
    last = metrics[-1]
    val = t["val"].format(val=last["val_loss"]) if last.get("val_loss") is not None else ""
    times = [r["seconds"] for r in metrics if r.get("seconds") is not None]
    time = t["time"].format(seconds=sum(times) / len(times), where=dict(environment).get("device", "?")) if times else ""
    out = [t["title"], "", t["name"], "", t["overview"], "", t["overview_prompt"].format(code=rows[n_enc - 1]["n_out"]),
           "", t["network"], "", t["figure"].format(figure=figures["network"]), "", t["layers_head"]]
    out += [f"| {r['l']} | {t['parts'][r['part']]} | {r['n_in']} → {r['n_out']} | "
            f"{'—' if r['activation'] == 'none' else r['activation']} | {r['n_in'] * r['n_out'] + r['n_out']:,} |"
            for r in rows]
    out += ["", t["param_total"].format(params=params, n_dense=n_dense, n_act=n_act, layers=n_dense + n_act), "",
            t["settings_head"]]
    out += [f"| {name} | {value.format(**facts)} |" for name, value in t["settings"]]
    out += ["", t["formulas"], "", t["formulas_intro"].format(pixels=PIXELS, n_enc=n_enc, n_enc1=n_enc + 1,
                                                              n_dense=n_dense), "",
            "    z = f_θ(x),    x̂ = g_φ(z)", ""]
    out += [f"    {line}" for line in layer_formulas(rows)]
    out += ["", t["losses"].format(pixels=PIXELS), "", t["formulas_prompt"], "", t["colab"], "", t["colab_steps"],
            "", t["environment"], "", t["env_head"]]
    out += [f"| {t['env_names'].get(item, item)} | {value} |" for item, value in environment]
    out += ["", t["results"], "",
            t["final"].format(epochs=int(last["epoch"]), test=last["test_loss"], test_img=PIXELS * last["test_loss"],
                              train=last["train_loss"], val=val, time=time), "",
            t["curve"].format(figure=figures["curve"]), "", t["recon"].format(figure=figures["recon"]), "",
            t["results_prompt"], "", t["references"], "", t["refs"], ""]
    return "\n".join(out)
