"""PyTorch peer for `dagrad bench --model resnet18`: torchvision's ResNet-18 (Debian ships no
torchvision, so the architecture is written out here: 11,689,512 parameters, as in torchvision and
dagrad's zoo) on 3x224x224 images, 1000 classes. Prints training-step and inference images/s,
measured by bench/torch_peer.py like shared/peers/torch_resnet.py.

    /usr/bin/python3 bench/torch_resnet18.py --threads 2 --batch 16 --steps 5
"""
import torch.nn as nn, torch.nn.functional as F

import torch_peer


class Block(nn.Module):
    def __init__(s, cin, cout, stride):
        super().__init__()
        s.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); s.b1 = nn.BatchNorm2d(cout)
        s.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); s.b2 = nn.BatchNorm2d(cout)
        s.sc = None
        if stride != 1 or cin != cout:
            s.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(s, x):
        y = F.relu(s.b1(s.c1(x))); y = s.b2(s.c2(y))
        return F.relu(y + (x if s.sc is None else s.sc(x)))


class ResNet18(nn.Module):
    def __init__(s):
        super().__init__()
        s.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for i, cout in enumerate((64, 128, 256, 512)):
            for j in range(2):
                layers.append(Block(cin, cout, 2 if (j == 0 and i > 0) else 1)); cin = cout
        s.body = nn.Sequential(*layers); s.fc = nn.Linear(512, 1000)

    def forward(s, x):
        return s.fc(F.adaptive_avg_pool2d(s.body(s.stem(x)), 1).flatten(1))


if __name__ == "__main__":
    torch_peer.run(ResNet18)
