"""The measuring half of the PyTorch peers in bench/ (torch_resnet18.py, torch_mobilenet_v2.py):
the same command line and the same timing as shared/peers/torch_resnet.py, for any network on
3x224x224 images with 1000 classes. SGD lr 0.05, momentum 0.9, weight decay 5e-4; channels_last
unless --nchw. Prints the parameter count, training-step and inference times and images/s."""
import argparse, time, torch, torch.nn.functional as F


def run(make_net):
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2); ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5); ap.add_argument("--nchw", action="store_true")
    a = ap.parse_args(); torch.set_num_threads(a.threads); torch.manual_seed(0)
    fmt = torch.contiguous_format if a.nchw else torch.channels_last
    net = make_net().to(memory_format=fmt)
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
