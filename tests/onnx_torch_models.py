"""Exports torchvision CNNs to ONNX with torch.onnx.export and saves what PyTorch computes on them,
so tests/interop_torch_test.cc can import each file into dagrad and compare.

    /usr/bin/python3 tests/onnx_torch_models.py OUT_DIR [--models resnet18,vgg16] [--modes eval,train]
                                                        [--opsets 13,17] [--batch 2] [--size 64]

For each model, mode and opset it writes OUT_DIR/<model>_<mode>_op<opset>/ holding
  model.onnx                    the export, batch axis symbolic ("N")
  input_image.npy, input_label.npy (train only)  the batch, as float32 NCHW / int64
  output_<name>.npy             PyTorch's value of each ONNX graph output ("logits", or "loss")
  grad_<initializer>.npy        train only: autograd's d loss / d parameter, by ONNX initializer name
and OUT_DIR/manifest.json listing every case, its files, the seconds each step took and, for the
train cases, PyTorch's own float32 gradient error against float64 per parameter.

Modes: "eval" exports model.eval() returning the logits. "train" exports, with
training=TrainingMode.TRAINING and do_constant_folding=False, a wrapper returning the mean
CrossEntropyLoss of the logits against the int64 input "label", so the graph ends in
SoftmaxCrossEntropyLoss and batch norms are in training form (batch statistics). Dropout is
random in training mode: its p is set to 0 in the train exports (vgg16, mobilenet_v2), so the
graph keeps its Dropout nodes (ratio 0) and the reference is deterministic.

Weights: weights=None with torch.manual_seed(0) (no network here), and every BatchNorm's running
statistics and affine parameters drawn away from 0/1, so a mix-up of mean, var, scale and bias
shows. A 64x64 image is enough: every layer runs with the same kernels, strides, pads and
channel counts as at 224x224, only on smaller planes (the last stage is 2x2, still more than one
pixel for the global pooling), and it keeps the whole check fast. vgg16 is the exception: its
AdaptiveAvgPool2d((7, 7)) exports only when the 7x7 output divides the feature map, so it runs
at 224x224 (features 7x7, pooled with a 1x1 window), batch 1.
"""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch
import torchvision

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "densenet121", "vgg16"]
# (batch, image size) where the default does not fit; see the docstring.
SHAPE_OVERRIDES = {"vgg16": (1, 224)}


class LossWrapper(torch.nn.Module):
    """The model followed by its mean cross-entropy loss: what the ONNX training graph computes."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image, label):
        return torch.nn.functional.cross_entropy(self.net(image), label)


def make_model(name, seed):
    torch.manual_seed(seed)
    net = getattr(torchvision.models, name)(weights=None)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.2)
    return net


def save(path, array):
    np.save(path, np.array(array, order="C"))  # not ascontiguousarray, which makes a scalar (the loss) 1-D


def file_name(name):
    """A file name for a value name (initializer names hold dots, which are kept)."""
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in name)


def float32_error(name, image, label, seed):
    """PyTorch's own float32 gradient error: per parameter, (max |g32 - g64| / max |g64|,
    ||g32 - g64|| / ||g64||) against the same model run in float64. Deep nets with batch norm in
    training mode on small batches amplify rounding (resnet50 here: up to tens of percent), so this
    is the floor no float32 implementation can be held below."""
    grads = {}
    for dtype in (torch.float32, torch.float64):
        net = make_model(name, seed).to(dtype)
        net.train()
        for m in net.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        wrapper = LossWrapper(net)
        wrapper(image.to(dtype), label).backward()
        grads[dtype] = {n: p.grad.double() for n, p in wrapper.named_parameters()}
    errors = {}
    for n, g64 in grads[torch.float64].items():
        d = grads[torch.float32][n] - g64
        errors[n] = [float(d.abs().max() / max(float(g64.abs().max()), 1e-30)), float(d.norm() / max(float(g64.norm()), 1e-30))]
    return errors


def export_case(net, mode, opset, image, label, case_dir):
    import onnx  # python3-onnx: only to read back the initializer names the exporter chose

    os.makedirs(case_dir, exist_ok=True)
    onnx_path = os.path.join(case_dir, "model.onnx")
    case = {"dir": os.path.basename(case_dir), "mode": mode, "opset": opset, "batch": int(image.shape[0]),
            "inputs": {"image": "input_image.npy"}, "outputs": {}, "grads": {}, "seconds": {}}
    save(os.path.join(case_dir, "input_image.npy"), image.numpy())

    t = time.perf_counter()
    if mode == "eval":
        net.eval()
        torch.onnx.export(net, (image,), onnx_path, opset_version=opset, input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    else:
        net.train()
        for m in net.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        # The export traces the model once in training mode, which moves the batch norms' running
        # statistics; the loss and gradients do not read them, so the reference below is unaffected.
        torch.onnx.export(LossWrapper(net), (image, label), onnx_path, opset_version=opset,
                          training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                          input_names=["image", "label"], output_names=["loss"],
                          dynamic_axes={"image": {0: "N"}, "label": {0: "N"}})
        case["inputs"]["label"] = "input_label.npy"
        save(os.path.join(case_dir, "input_label.npy"), label.numpy())
    case["seconds"]["export"] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    if mode == "eval":
        with torch.no_grad():
            logits = net(image)
        save(os.path.join(case_dir, "output_logits.npy"), logits.numpy())
        case["outputs"]["logits"] = "output_logits.npy"
    else:
        wrapper = LossWrapper(net)
        wrapper.zero_grad(set_to_none=True)
        loss = wrapper(image, label)
        loss.backward()
        save(os.path.join(case_dir, "output_loss.npy"), loss.detach().numpy())
        case["outputs"]["loss"] = "output_loss.npy"
        model = onnx.load(onnx_path, load_external_data=False)
        initializers = {init.name for init in model.graph.initializer}
        missing = []
        for name, p in wrapper.named_parameters():
            if name not in initializers:
                missing.append(name)
                continue
            f = "grad_" + file_name(name) + ".npy"
            save(os.path.join(case_dir, f), p.grad.numpy())
            case["grads"][name] = f
        if missing:
            sys.exit(f"{onnx_path}: parameters not kept as initializers by name: {missing[:5]} ...")
    case["seconds"]["reference"] = round(time.perf_counter() - t, 2)
    case["onnx_bytes"] = os.path.getsize(onnx_path)
    return case


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--modes", default="eval,train")
    ap.add_argument("--opsets", default="13,17")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")  # torch.onnx's tracer warnings would bury the per-case lines
    torch.set_num_threads(a.threads)
    os.makedirs(a.out_dir, exist_ok=True)
    cases = []
    for name in a.models.split(","):
        if name not in MODELS:
            sys.exit(f"unknown model '{name}' (known: {', '.join(MODELS)})")
        batch, size = SHAPE_OVERRIDES.get(name, (a.batch, a.size))
        gen = torch.Generator().manual_seed(a.seed + 7)
        image = torch.randn(batch, 3, size, size, generator=gen)
        label = torch.randint(0, 1000, (batch,), generator=gen)
        for mode in a.modes.split(","):
            if mode not in ("eval", "train"):
                sys.exit(f"unknown mode '{mode}' (eval | train)")
            if mode == "train":
                t = time.perf_counter()
                errors = float32_error(name, image, label, a.seed)
                float64_seconds = round(time.perf_counter() - t, 2)
            for opset in (int(o) for o in a.opsets.split(",")):
                net = make_model(name, a.seed)  # fresh: a training export moves running statistics
                case_dir = os.path.join(a.out_dir, f"{name}_{mode}_op{opset}")
                case = export_case(net, mode, opset, image, label, case_dir)
                case["model"] = name
                if mode == "train":
                    case["torch_float32_error"] = errors
                    case["seconds"]["float64_check"] = float64_seconds
                cases.append(case)
                print(f"{case['dir']}: export {case['seconds']['export']} s, reference {case['seconds']['reference']} s, "
                      f"{case['onnx_bytes'] / 1e6:.1f} MB", flush=True)
    with open(os.path.join(a.out_dir, "manifest.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=2)


if __name__ == "__main__":
    main()
