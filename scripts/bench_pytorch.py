#!/usr/bin/python3
"""PyTorch reference for `pfedhn bench`: the authors' pFedHN round, timed on this machine.

Implements one round the way the authors' released code does it (github.com/AvivSham/pFedHN,
experiments/pfedhn/trainer.py and experiments/pfedhn_pc/trainer.py): torchvision datasets of
per-sample PIL images through ToTensor + Normalize, one Subset and DataLoader per client and
split, `next(iter(loader))` for every inner step, `load_state_dict` of the generated weights, a
fresh inner SGD per round, and `torch.autograd.grad` of the generated weights with delta_theta as
the output gradient. The data are synthetic uint8 images of the real shapes and split sizes, so no
dataset is needed. Prints the same figures as `pfedhn bench` (`--json`: the same keys).

Run it with Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision 0.14, python3-yaml).
"""

import argparse
import json
import os
import random
import resource
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.data
import yaml
from torch import nn
from torchvision import transforms
from torchvision.datasets import CIFAR10, CIFAR100, MNIST, FashionMNIST, VisionDataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(REPO, "conf", "config.yaml")


class UserError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Config: the same YAML presets and dotted overrides as pfedhn.


def flatten(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        name = prefix + str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def set_algorithm_alias(cfg, key, value):
    """model.variant and model.local are pfedhn's older names of the key `algorithm`."""
    if key == "model.local":
        value = "pfedhn_pc" if value is True else "pfedhn"
    cfg["algorithm"] = value


def load_config(path, overrides):
    try:
        with open(path) as f:
            cfg = flatten(yaml.safe_load(f) or {})
    except OSError as e:
        raise UserError(f"cannot read config '{path}': {e.strerror}")
    for alias in ("model.variant", "model.local"):
        if alias in cfg:
            set_algorithm_alias(cfg, alias, cfg.pop(alias))
    cfg.setdefault("algorithm", "pfedhn")
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise UserError(f"override '{item}' is not of the form key=value")
        if key in ("model.variant", "model.local"):
            set_algorithm_alias(cfg, key, yaml.safe_load(text))
            continue
        if key not in cfg:
            raise UserError(f"unknown config key '{key}'")
        cfg[key] = yaml.safe_load(text)
    return cfg


# ---------------------------------------------------------------------------------------------
# Data: torchvision's own dataset classes (their __getitem__: PIL image -> transform), filled with
# synthetic uint8 images of the real shape instead of the files.

# name: (torchvision class, image shape (HWC, or HW for 'L' mode), classes, official train size,
#        test size, mean, std) -- normalisation from the reference page.
DATASETS = {
    "cifar10": (CIFAR10, (32, 32, 3), 10, 50000, 10000,
                (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": (CIFAR100, (32, 32, 3), 100, 50000, 10000,
                 (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "mnist": (MNIST, (28, 28), 10, 60000, 10000, (0.1307,), (0.3081,)),
    "fashion_mnist": (FashionMNIST, (28, 28), 10, 60000, 10000, (0.2860,), (0.3530,)),
}


def synthetic_dataset(name, n, rng):
    """A torchvision dataset object of `n` random images with balanced, shuffled labels."""
    cls, shape, num_classes, _, _, mean, std = DATASETS[name]
    ds = cls.__new__(cls)  # skip the file loading; everything __getitem__ uses is set below
    VisionDataset.__init__(ds, root="synthetic", transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize(mean, std)]))
    labels = rng.permutation(np.arange(n) % num_classes)
    images = rng.integers(0, 256, size=(n,) + shape, dtype=np.uint8)
    if len(shape) == 3:  # CIFAR keeps a numpy HWC array and a list of ints
        ds.data, ds.targets = images, labels.tolist()
    else:  # MNIST keeps uint8 / int64 tensors
        ds.data, ds.targets = torch.from_numpy(images), torch.from_numpy(labels)
    return ds


def split_labels(subset_or_ds):
    if isinstance(subset_or_ds, torch.utils.data.Subset):
        return np.asarray(subset_or_ds.dataset.targets)[subset_or_ds.indices]
    return np.asarray(subset_or_ds.targets)


def classes_per_client(num_clients, num_classes, per_client, rng):
    """The paper's class assignment (reference page, "Partition into clients")."""
    count_per_class = per_client * num_clients // num_classes + 1
    counts = [count_per_class] * num_classes
    props = []
    for _ in range(num_classes):
        w = rng.uniform(0.4, 0.6, size=count_per_class)
        props.append(list(w / w.sum()))
    assignment = []
    for _ in range(num_clients):
        mine = []
        for _ in range(per_client):
            top = max(counts)
            c = int(rng.choice([k for k in range(num_classes) if counts[k] == top]))
            counts[c] -= 1
            mine.append((c, props[c].pop()))
        assignment.append(mine)
    return assignment


def client_indices(split, assignment, num_classes, rng):
    labels = split_labels(split)
    by_class = [list(rng.permutation(np.flatnonzero(labels == c))) for c in range(num_classes)]
    sizes = [len(v) for v in by_class]
    out = []
    for mine in assignment:
        idx = []
        for c, p in mine:
            take = int(sizes[c] * p)
            idx.extend(by_class[c][:take])
            by_class[c] = by_class[c][take:]
        out.append(idx)
    return out


class Clients:
    """Per-client train / val / test Subsets and DataLoaders, as the authors' BaseNodes."""

    def __init__(self, cfg, splits=None):
        """`splits`: (train, val, test) datasets; by default synthetic images of the real sizes,
        split as the authors do (validation drawn from the training set)."""
        name = cfg["dataset.data"]
        if name not in DATASETS:
            raise UserError(f"dataset.data must be one of {sorted(DATASETS)}, got '{name}'")
        _, _, num_classes, train_size, test_size, _, _ = DATASETS[name]
        self.num_classes = num_classes
        rng = np.random.default_rng(cfg["seed"])
        if splits is None:
            full = synthetic_dataset(name, train_size, rng)
            test = synthetic_dataset(name, test_size, rng)
            val_size = int(cfg["dataset.val_size"])
            gen = torch.Generator().manual_seed(int(cfg["seed"]))
            train, val = torch.utils.data.random_split(full, [train_size - val_size, val_size],
                                                       generator=gen)
        else:
            train, val, test = splits
        n = int(cfg["client.num_nodes"])
        if cfg["client.partition"] != "classes":
            raise UserError("bench_pytorch.py implements client.partition=classes only")
        assignment = classes_per_client(n, num_classes, int(cfg["client.num_classes_per_node"]),
                                        rng)
        self.subsets = {}
        for split_name, split in (("train", train), ("val", val), ("test", test)):
            self.subsets[split_name] = [torch.utils.data.Subset(split, idx)
                                        for idx in client_indices(split, assignment,
                                                                  num_classes, rng)]
        bs, ebs = int(cfg["client.batch_size"]), int(cfg["eval_batch_size"])

        def loaders(split_name, batch_size):
            return [torch.utils.data.DataLoader(s, batch_size=batch_size, shuffle=True)
                    for s in self.subsets[split_name]]

        self.train_loaders = loaders("train", bs)
        # The authors' pre-training check reads one batch of the client's test loader, whose
        # batch size is the training one; the evaluation loaders use eval_batch_size.
        self.test_batch_loaders = loaders("test", bs)
        self.val_loaders = loaders("val", ebs)
        self.test_loaders = loaders("test", ebs)


# ---------------------------------------------------------------------------------------------
# Models: the authors' CNNHyper / CNNTarget (and the PC variants), with the target architectures
# of src/models/target.cpp (LeNet for CIFAR, the 3x3 three-conv net for MNIST).


class LeNetTarget(nn.Module):
    def __init__(self, in_channels, n_kernels, out_dim, with_head):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, n_kernels, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(n_kernels, 2 * n_kernels, 5)
        self.fc1 = nn.Linear(2 * n_kernels * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, out_dim) if with_head else None

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(x.shape[0], -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x) if self.fc3 is not None else x


class MnistTarget(nn.Module):
    def __init__(self, in_channels, n_kernels, out_dim, with_head):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, n_kernels, 3)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(n_kernels, 2 * n_kernels, 3)
        self.conv3 = nn.Conv2d(2 * n_kernels, 4 * n_kernels, 3)
        self.fc1 = nn.Linear(4 * n_kernels * 3 * 3, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, out_dim) if with_head else None

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = F.relu(self.conv3(x))
        x = x.view(x.shape[0], -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x) if self.fc3 is not None else x


class Hyper(nn.Module):
    """Embedding -> MLP -> one Linear head per target tensor, reshaped (the authors' CNNHyper)."""

    def __init__(self, shapes, n_nodes, embedding_dim, hidden_dim, n_hidden, spec_norm):
        super().__init__()
        sn = nn.utils.spectral_norm if spec_norm else (lambda m: m)
        self.shapes = shapes
        self.embeddings = nn.Embedding(num_embeddings=n_nodes, embedding_dim=embedding_dim)
        layers = [sn(nn.Linear(embedding_dim, hidden_dim))]
        for _ in range(n_hidden):
            layers += [nn.ReLU(inplace=True), sn(nn.Linear(hidden_dim, hidden_dim))]
        self.mlp = nn.Sequential(*layers)
        self.heads = nn.ModuleList(
            [sn(nn.Linear(hidden_dim, int(np.prod(shape)))) for shape in shapes.values()])

    def forward(self, idx):
        features = self.mlp(self.embeddings(idx))
        return OrderedDict((name, head(features).view(shape))
                           for (name, shape), head in zip(self.shapes.items(), self.heads))


def build_models(cfg, num_classes):
    data = cfg["dataset.data"]
    in_channels = 3 if data.startswith("cifar") else 1
    for key, expected in (("model.in_channels", in_channels), ("model.out_dim", num_classes)):
        if cfg.get(key) not in (None, 0, expected):
            raise UserError(f"{key}={cfg[key]} contradicts dataset {data} ({expected})")
    variant = cfg["algorithm"]
    if variant not in ("pfedhn", "pfedhn_pc"):
        raise UserError(f"algorithm must be pfedhn or pfedhn_pc (the authors' code has no "
                        f"baselines), got '{variant}'")
    pc = variant == "pfedhn_pc"
    target_cls = MnistTarget if data in ("mnist", "fashion_mnist") else LeNetTarget
    net = target_cls(in_channels, int(cfg["model.n_kernels"]), num_classes, with_head=not pc)
    shapes = OrderedDict((k, tuple(v.shape)) for k, v in net.state_dict().items())
    n = int(cfg["client.num_nodes"])
    embed_dim = int(cfg["server.embedding_dim"]) or int(
        1 + n / float(cfg["server.embedding_dim_denominator"]))
    hnet = Hyper(shapes, n, embed_dim, int(cfg["server.hidden_dim"]), int(cfg["model.n_hidden"]),
                 bool(cfg["model.spec_norm"]))
    return variant, hnet, net


# ---------------------------------------------------------------------------------------------
# The round and the evaluation, as in the authors' trainer.py.


class Bench:
    def __init__(self, cfg, splits=None):
        self.cfg = cfg
        self.clients = Clients(cfg, splits)
        self.variant, self.hnet, self.net = build_models(cfg, self.clients.num_classes)
        self.num_nodes = int(cfg["client.num_nodes"])
        self.inner_steps = int(cfg["client.num_epochs"])
        lr = float(cfg["server.lr"])
        embed_lr = float(cfg["server.embed_lr"]) or lr
        self.optimizer = torch.optim.SGD(
            [{"params": [p for n, p in self.hnet.named_parameters() if "embed" not in n]},
             {"params": [p for n, p in self.hnet.named_parameters() if "embed" in n],
              "lr": embed_lr}],
            lr=lr, momentum=float(cfg["server.momentum"]), weight_decay=float(cfg["server.wd"]))
        self.inner = dict(lr=float(cfg["model.inner_lr"]),
                          momentum=float(cfg["model.inner_momentum"]),
                          weight_decay=float(cfg["model.wd"]))
        self.criteria = nn.CrossEntropyLoss()
        self.local_layers, self.local_optims = None, None
        if self.variant == "pfedhn_pc":  # the authors' BaseNodesForLocal
            self.local_layers = [nn.Linear(84, self.clients.num_classes)
                                 for _ in range(self.num_nodes)]
            self.local_optims = [torch.optim.SGD(l.parameters(), **self.inner)
                                 for l in self.local_layers]

    def predict(self, node_id, img):
        out = self.net(img)
        return self.local_layers[node_id](out) if self.local_layers else out

    def round(self, times):
        """One round; adds seconds to times['generate'|'local'|'server']."""
        hnet, net = self.hnet, self.net
        t0 = time.perf_counter()
        hnet.train()
        node_id = random.choice(range(self.num_nodes))
        weights = hnet(torch.tensor([node_id], dtype=torch.long))
        t1 = time.perf_counter()

        net.load_state_dict(weights)
        inner_optim = torch.optim.SGD(net.parameters(), **self.inner)
        inner_state = OrderedDict({k: tensor.data for k, tensor in weights.items()})
        with torch.no_grad():  # the authors' check of the sent model on one test batch
            net.eval()
            img, label = next(iter(self.clients.test_batch_loaders[node_id]))
            pred = self.predict(node_id, img)
            self.criteria(pred, label).item()
            pred.argmax(1).eq(label).sum().item()
            net.train()
        clip = float(self.cfg["model.inner_grad_clip"])
        for _ in range(self.inner_steps):
            net.train()
            inner_optim.zero_grad()
            self.optimizer.zero_grad()
            if self.local_optims:
                self.local_optims[node_id].zero_grad()
            img, label = next(iter(self.clients.train_loaders[node_id]))
            loss = self.criteria(self.predict(node_id, img), label)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            inner_optim.step()
            if self.local_optims:
                self.local_optims[node_id].step()
        self.optimizer.zero_grad()
        final_state = net.state_dict()
        delta_theta = OrderedDict({k: inner_state[k] - final_state[k] for k in weights.keys()})
        t2 = time.perf_counter()

        hnet_grads = torch.autograd.grad(list(weights.values()), hnet.parameters(),
                                         grad_outputs=list(delta_theta.values()))
        for p, g in zip(hnet.parameters(), hnet_grads):
            p.grad = g
        torch.nn.utils.clip_grad_norm_(hnet.parameters(), float(self.cfg["server.grad_clip"]))
        self.optimizer.step()
        t3 = time.perf_counter()
        times["generate"] += t1 - t0
        times["local"] += t2 - t1
        times["server"] += t3 - t2

    @torch.no_grad()
    def evaluate_split(self, loaders):
        """The authors' evaluate(): pFedHN generates and loads the weights for every batch,
        pFedHN-PC once per client."""
        self.hnet.eval()
        results = []
        for node_id in range(self.num_nodes):
            loss, correct, samples, batches = 0.0, 0.0, 0.0, 0
            if self.local_layers:
                self.net.load_state_dict(self.hnet(torch.tensor([node_id], dtype=torch.long)))
            for img, label in loaders[node_id]:
                if not self.local_layers:
                    self.net.load_state_dict(
                        self.hnet(torch.tensor([node_id], dtype=torch.long)))
                pred = self.predict(node_id, img)
                loss += self.criteria(pred, label).item()
                correct += pred.argmax(1).eq(label).sum().item()
                samples += len(label)
                batches += 1
            results.append((loss / max(batches, 1), correct, samples))
        return results

    def evaluate(self):
        """One full evaluation: test and val of every client, as at each eval_every round."""
        test = self.evaluate_split(self.clients.test_loaders)
        val = self.evaluate_split(self.clients.val_loaders)
        return test, val


def num_evaluations(rounds, every):
    """Evaluations at rounds 0, every, 2*every, ... and after the last round."""
    if rounds <= 0:
        return 0
    n = (rounds - 1) // every + 1
    return n + (1 if (rounds - 1) % every else 0)


def start_torch(cfg):
    """Sets the config's thread count and seeds every RNG the authors' code draws from;
    returns the thread count used."""
    threads = int(cfg["num_threads"]) or (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    seed = int(cfg["seed"])
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return threads


def run(cfg, rounds, warmup, evaluate):
    threads = start_torch(cfg)
    bench = Bench(cfg)
    zero = dict(generate=0.0, local=0.0, server=0.0)
    for _ in range(warmup):
        bench.round(dict(zero))
    times = dict(zero)
    t0 = time.perf_counter()
    for _ in range(rounds):
        bench.round(times)
    s_rounds = time.perf_counter() - t0
    s_eval = 0.0
    if evaluate:  # like pfedhn bench: one untimed evaluation first when warming up
        if warmup > 0:
            bench.evaluate()
        t0 = time.perf_counter()
        bench.evaluate()
        s_eval = time.perf_counter() - t0

    r = max(rounds, 1)
    s_per_round = s_rounds / r
    num_rounds_config = int(cfg["client.num_rounds"])
    eval_every = int(cfg["eval_every"])
    return OrderedDict([
        ("tool", "pytorch"),
        ("dataset", cfg["dataset.data"]),
        ("variant", bench.variant),
        ("threads", threads),
        ("warmup_rounds", warmup),
        ("rounds", rounds),
        ("num_nodes", bench.num_nodes),
        ("clients_per_round", 1),
        ("inner_steps", bench.inner_steps),
        ("batch_size", int(cfg["client.batch_size"])),
        ("eval_batch_size", int(cfg["eval_batch_size"])),
        ("num_rounds_config", num_rounds_config),
        ("eval_every", eval_every),
        ("evaluations_config", num_evaluations(num_rounds_config, eval_every)),
        ("target_parameters", sum(v.numel() for v in bench.net.state_dict().values())),
        ("ms_per_inner_step", 1000.0 * times["local"] / (r * max(bench.inner_steps, 1))),
        ("s_per_round", s_per_round),
        ("s_generate", times["generate"] / r),
        ("s_local", times["local"] / r),
        ("s_server", times["server"] / r),
        ("s_per_eval", s_eval),
        ("projected_s", num_rounds_config * s_per_round
         + num_evaluations(num_rounds_config, eval_every) * s_eval),
        # ru_maxrss is in KiB on Linux
        ("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0),
    ])


def print_table(res):
    print(f"PyTorch reference (authors' pFedHN round): {res['dataset']}, {res['variant']}, "
          f"{res['num_nodes']} clients, {res['threads']} thread(s)")
    print(f"  {res['rounds']} rounds after {res['warmup_rounds']} warm-up rounds, "
          f"{res['inner_steps']} inner steps of batch {res['batch_size']}, "
          f"eval batch {res['eval_batch_size']}")
    rows = [
        ("ms per inner step", f"{res['ms_per_inner_step']:.2f}"),
        ("s per round", f"{res['s_per_round']:.4f}"),
        ("  hypernetwork forward", f"{res['s_generate']:.4f}"),
        ("  local training", f"{res['s_local']:.4f}"),
        ("  hypernetwork backward+step", f"{res['s_server']:.4f}"),
        ("s per full evaluation", f"{res['s_per_eval']:.3f}" if res["s_per_eval"] else "not timed"),
        (f"projected {res['num_rounds_config']} rounds + {res['evaluations_config']} evaluations",
         f"{res['projected_s']:.0f} s ({res['projected_s'] / 60:.1f} min)"),
        ("peak RSS", f"{res['peak_rss_mb']:.0f} MB"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


def main(argv):
    parser = argparse.ArgumentParser(
        prog="bench_pytorch.py",
        description="Time the authors' PyTorch pFedHN round on synthetic data of the real shapes "
                    "(the PyTorch side of scripts/compare_pytorch.sh).")
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help="YAML preset (default: conf/config.yaml)")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    parser.add_argument("--no-eval", dest="evaluate", action="store_false",
                        help="skip timing the full evaluation")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. client.num_nodes=10 num_threads=2")
    args = parser.parse_args(argv)
    try:
        if args.rounds < 1 or args.warmup < 0:
            raise UserError("--rounds must be >= 1 and --warmup >= 0")
        cfg = load_config(args.config, args.overrides)
        if int(cfg["eval_every"]) < 1:
            raise UserError("eval_every must be >= 1")
        res = run(cfg, args.rounds, args.warmup, args.evaluate)
    except UserError as e:
        print(f"bench_pytorch: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res))
    else:
        print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
