"""PyTorch peer of `dagrad bench --sweep`: training and inference images/s of the reference ResNet
(the model of shared/peers/torch_resnet.py, imported so it cannot drift) for batch 1, 2, 4, ...,
--max-batch and each thread count, written as CSV with the columns of `dagrad bench --sweep --csv`
so `dagrad bench --sweep --peer-csv` can draw it beside dagrad's:

    /usr/bin/python3 bench/torch_sweep.py --threads 1,2 --max-batch 256 --steps 5 --csv torch.csv

Timing as in torch_resnet.py: SGD lr 0.05, momentum 0.9, weight decay 5e-4, channels_last, one
random batch reused every step, --warmup untimed steps first (inference too). Each point times
max(--steps, ceil(--min-images / batch)) steps. The *_peak_bytes columns are empty: PyTorch has
no plan to ask for its peak. The *_cpu_ms columns are the process's CPU time (all threads, OpenMP's
spinning included) per step."""
import argparse, csv, math, os, platform, re, sys, time

import torch, torch.nn.functional as F

COLUMNS = ["framework", "isa", "cpu", "model", "batch", "threads", "steps", "train_images_per_s", "infer_images_per_s",
           "train_step_ms", "infer_step_ms", "train_peak_bytes", "infer_peak_bytes", "train_step_cpu_ms", "infer_step_cpu_ms"]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def kernel_path():
    # torch 1.13 has no API for it; its build summary names the ATen vector path and oneDNN's version.
    config = torch.__config__.show()
    aten = re.search(r"CPU capability usage: (\S+)", config)
    onednn = re.search(r"MKL-DNN v(\S+)", config)
    return f"aten {aten.group(1) if aten else '?'}, onednn {onednn.group(1) if onednn else '?'}"


def load_peer(path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    import torch_resnet
    return torch_resnet.Net


def measure(Net, batch, threads, steps, warmup):
    torch.set_num_threads(threads); torch.manual_seed(0)
    fmt = torch.channels_last
    net = Net().to(memory_format=fmt)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 1, 28, 28).to(memory_format=fmt); y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(); F.cross_entropy(net(x), y).backward(); opt.step()

    for _ in range(warmup): step()
    t, c = time.perf_counter(), time.process_time()
    for _ in range(steps): step()
    train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
    net.eval()
    with torch.no_grad():
        for _ in range(warmup): net(x)
        t, c = time.perf_counter(), time.process_time()
        for _ in range(steps): net(x)
        infer_s, infer_cpu = time.perf_counter() - t, time.process_time() - c
    return train_s, infer_s, train_cpu, infer_cpu


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--max-batch", type=int, default=256, help="largest batch (a power of two)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per point (at least)")
    ap.add_argument("--min-images", type=int, default=256, help="time at least this many images per point")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--csv", help="write the CSV here (default: standard output)")
    ap.add_argument("--peer", default=os.path.join(here, "..", "..", "shared", "peers", "torch_resnet.py"),
                    help="the file defining Net (default: ../shared/peers/torch_resnet.py beside the repository)")
    a = ap.parse_args()
    try:
        threads = [int(t) for t in a.threads.split(",")]
    except ValueError:
        ap.error(f"--threads must be comma-separated integers, got '{a.threads}'")
    if any(t < 1 for t in threads): ap.error(f"--threads must be at least 1 each, got '{a.threads}'")
    if a.max_batch < 1 or a.max_batch & (a.max_batch - 1): ap.error(f"--max-batch must be a power of two, got {a.max_batch}")
    if a.steps < 1: ap.error(f"--steps must be at least 1, got {a.steps}")
    if a.warmup < 0 or a.min_images < 0: ap.error("--warmup and --min-images must be at least 0")
    if not os.path.isfile(a.peer): ap.error(f"--peer {a.peer}: no such file")
    Net = load_peer(a.peer)

    rows, isa, cpu = [], kernel_path(), cpu_model()
    batches = [2 ** i for i in range(int(math.log2(a.max_batch)) + 1)]
    for t in threads:
        for b in batches:
            steps = max(a.steps, math.ceil(a.min_images / b))
            if sys.stderr.isatty(): print(f"\rtorch sweep: threads {t} batch {b} ({steps} steps)   ", end="", file=sys.stderr, flush=True)
            train_s, infer_s, train_cpu, infer_cpu = measure(Net, b, t, steps, a.warmup)
            rows.append(["pytorch " + torch.__version__, isa, cpu, "resnet_ref", b, t, steps, f"{b * steps / train_s:.6g}",
                         f"{b * steps / infer_s:.6g}", f"{1000 * train_s / steps:.6g}", f"{1000 * infer_s / steps:.6g}", "", "",
                         f"{1000 * train_cpu / steps:.6g}", f"{1000 * infer_cpu / steps:.6g}"])
    if sys.stderr.isatty(): print("\r" + " " * 60 + "\r", end="", file=sys.stderr, flush=True)

    if a.csv:  # atomically, like dagrad's own files: a temporary file beside the target, then rename
        tmp = a.csv + ".tmp" + str(os.getpid())
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f); w.writerow(COLUMNS); w.writerows(rows); f.flush(); os.fsync(f.fileno())
        os.replace(tmp, a.csv)
    else:
        w = csv.writer(sys.stdout); w.writerow(COLUMNS); w.writerows(rows)


if __name__ == "__main__":
    main()
