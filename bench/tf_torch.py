#!/usr/bin/env python3
"""The transformer kind's training loop in PyTorch, to time side by side.

The closest PyTorch equivalent of src/core/tf_model.c (docs/transformer.md,
"Architecture"): token and position embeddings, n_layer pre-LayerNorm
blocks of causal multi-head self-attention (one QKV projection) and a
4x GELU (tanh) MLP, a final LayerNorm, a head whose position t produces
only the logits of its own slice of the vocabulary (one matrix product per
position, as the C code does), a softmax cross-entropy per position summed
over the row and averaged over the batch, Adam (betas 0.9, 0.999, no weight
decay), shuffled mini-batches.  Tokens are drawn uniformly within each
position's slice: the work of a step does not depend on their values.

    /usr/bin/python3 bench/tf_torch.py --slices 5,32,2,32,... --rows 20000 \
        --epochs 2 --threads 1 --flush-denormal

prints one JSON object: the configuration, parameters, and seconds per
epoch (wall clock, and CPU of the process's threads).  bench/tf_speed.sh runs it beside aigc_train on the same table.
"""
import argparse
import json
import math
import os
import sys
import time

if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
    os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)

ap = argparse.ArgumentParser()
ap.add_argument("--slices", required=True, help="tokens of each position, comma-separated")
ap.add_argument("--rows", type=int, default=20000)
ap.add_argument("--epochs", type=int, default=2)
ap.add_argument("--batch-size", type=int, default=256)
ap.add_argument("--n-layer", type=int, default=2)
ap.add_argument("--d-model", type=int, default=64)
ap.add_argument("--n-head", type=int, default=4)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--flush-denormal", action="store_true")
ap.add_argument("--seed", type=int, default=1)
args = ap.parse_args()

os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
if args.flush_denormal:
    torch.set_flush_denormal(True)
torch.manual_seed(args.seed)

slices = [int(s) for s in args.slices.split(",")]
T = len(slices)
first = [0]
for s in slices:
    first.append(first[-1] + s)
V = first[-1]
C, L, NH = args.d_model, args.n_layer, args.n_head


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(C)
        self.qkv = nn.Linear(C, 3 * C)
        self.proj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C)
        self.fc = nn.Linear(C, 4 * C)
        self.fcproj = nn.Linear(4 * C, C)
        self.register_buffer("causal", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def forward(self, x):
        N = x.shape[0]
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q = q.view(N, T, NH, C // NH).transpose(1, 2)
        k = k.view(N, T, NH, C // NH).transpose(1, 2)
        v = v.view(N, T, NH, C // NH).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // NH)
        att = att.masked_fill(~self.causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(N, T, C)
        x = x + self.proj(y)
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class TableTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V + 1, C)
        self.wpe = nn.Parameter(torch.randn(T, C) * 0.02)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.lnf = nn.LayerNorm(C)
        self.head_w = nn.Parameter(torch.randn(V, C) * 0.02)
        self.head_b = nn.Parameter(torch.zeros(V))

    def forward(self, tokens):
        N = tokens.shape[0]
        # input at t is the token of t - 1, a start token (V) at t = 0
        inp = torch.cat([torch.full((N, 1), V, dtype=torch.long), tokens[:, :-1]], dim=1)
        x = self.wte(inp) + self.wpe
        for b in self.blocks:
            x = b(x)
        x = self.lnf(x)
        loss = 0.0
        for t in range(T):
            logits = x[:, t] @ self.head_w[first[t]:first[t + 1]].T + self.head_b[first[t]:first[t + 1]]
            loss = loss + F.cross_entropy(logits, tokens[:, t] - first[t], reduction="sum")
        return loss / N


tokens = torch.stack([torch.randint(first[t], first[t + 1], (args.rows,)) for t in range(T)], dim=1)
model = TableTransformer()
opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), weight_decay=0.0)
epoch_s = []
epoch_cpu_s = []
for epoch in range(args.epochs):
    start = time.perf_counter()
    cpu_start = time.process_time()
    perm = torch.randperm(args.rows)
    for i in range(0, args.rows, args.batch_size):
        loss = model(tokens[perm[i:i + args.batch_size]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    epoch_s.append(time.perf_counter() - start)
    epoch_cpu_s.append(time.process_time() - cpu_start)
print(json.dumps({"positions": T, "tokens": V, "n_layer": L, "d_model": C, "n_head": NH,
                  "rows": args.rows, "batch_size": args.batch_size, "threads": args.threads,
                  "flush_denormal": args.flush_denormal, "torch": torch.__version__,
                  "parameters": sum(p.numel() for p in model.parameters()),
                  "epoch_s": epoch_s, "epoch_cpu_s": epoch_cpu_s}))
