"""PyTorch peer for `dagrad bench --model mobilenet_v2`: torchvision 0.14's MobileNetV2 (width 1.0;
Debian ships no torchvision, so the architecture is written out here: 3,504,872 parameters, as in
torchvision and dagrad's zoo) on 3x224x224 images, 1000 classes. Prints training-step and inference
images/s, measured by bench/torch_peer.py like shared/peers/torch_resnet.py.

    /usr/bin/python3 bench/torch_mobilenet_v2.py --threads 2 --batch 16 --steps 5
"""
import torch.nn as nn, torch.nn.functional as F

import torch_peer


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
    torch_peer.run(MobileNetV2)
