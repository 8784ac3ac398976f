"""PyTorch peer for `dagrad bench --model mobilenet_v2`: torchvision 0.14's MobileNetV2 (width 1.0;
Debian ships no torchvision, so the architecture is written out here: 3,504,872 parameters, as in
torchvision and dagrad's zoo) on 3x224x224 images, 1000 classes. Prints training-step and inference
images/s, measured like shared/peers/torch_resnet.py: SGD lr 0.05, momentum 0.9, weight decay 5e-4,
channels_last unless --nchw.

    /usr/bin/python3 bench/torch_mobilenet_v2.py --threads 2 --batch 16 --steps 5
"""
import argparse, time, torch, torch.nn as nn, torch.nn.functional as F


def conv_bn_relu6(cin, cout, kernel, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(s, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [conv_bn_relu6(cin, hidden, 1)]
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        s.conv = nn.Sequential(*layers)
        s.residual = stride == 1 and cin == cout

    def forward(s, x):
        return x + s.conv(x) if s.residual else s.conv(x)


class MobileNetV2(nn.Module):
    def __init__(s, classes=1000):
        super().__init__()
        layers, cin = [conv_bn_relu6(3, 32, 3, 2)], 32
        for t, c, n, stride in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                                (6, 160, 3, 2), (6, 320, 1, 1)]:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, stride if i == 0 else 1, t)); cin = c
        layers.append(conv_bn_relu6(cin, 1280, 1))
        s.features = nn.Sequential(*layers)
        s.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

    def forward(s, x):
        return s.classifier(F.adaptive_avg_pool2d(s.features(x), 1).flatten(1))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2); ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5); ap.add_argument("--nchw", action="store_true")
    a = ap.parse_args(); torch.set_num_threads(a.threads); torch.manual_seed(0)
    fmt = torch.contiguous_format if a.nchw else torch.channels_last
    net = MobileNetV2().to(memory_format=fmt)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    print("params", sum(p.numel() for p in net.parameters()))
    x = torch.randn(a.batch, 3, 224, 224).to(memory_format=fmt); y = torch.randint(0, 1000, (a.batch,))

    def step():
        opt.zero_grad(); loss = F.cross_entropy(net(x), y); loss.backward(); opt.step()

    step()
    t = time.perf_counter()
    for _ in range(a.steps): step()
    dt = time.perf_counter() - t
    print(f"train_step_ms {1000*dt/a.steps:.2f} images_per_s {a.batch*a.steps/dt:.1f}")
    net.eval()
    with torch.no_grad():
        net(x); t = time.perf_counter()
        for _ in range(a.steps): net(x)
        dt = time.perf_counter() - t
    print(f"infer_ms {1000*dt/a.steps:.2f} infer_images_per_s {a.batch*a.steps/dt:.1f}")
