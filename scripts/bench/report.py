#!/usr/bin/env python3
"""Turns a run.sh result directory into Markdown tables (stdout) and latency plots (PNG).

Usage: report.py RESULTS_DIR [PLOTS_DIR]   (PLOTS_DIR default: docs/bench)
"""
import glob
import json
import os
import sys

SERVERS = ["buoycast", "nchan", "pushpin"]
LIVE = [("live-1k-20", "1k clients × 20 ev/s"), ("live-1k-100", "1k clients × 100 ev/s"),
        ("live-10k-10", "10k clients × 10 ev/s"), ("live-10k-100", "10k clients × 100 ev/s (saturation)")]
IDLE = [("idle-10k", 10_000), ("idle-50k", 50_000), ("idle-100k", 100_000)]


def load(results):
    data = {}
    for path in glob.glob(os.path.join(results, "*.json")):
        name, server, _ = os.path.basename(path).rsplit(".", 2)
        with open(path) as f:
            data[(name, server)] = json.load(f)
    return data


def f(v, digits=1):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def ratio(peer, ours, higher_is_better):
    if not peer or not ours:
        return "—"
    r = ours / peer if higher_is_better else peer / ours
    return f"{r:.2f}×"


def live_tables(data):
    out = []
    for name, title in LIVE:
        rows = [(s, data.get((name, s))) for s in SERVERS]
        if not any(r for _, r in rows):
            continue
        out.append(f"\n#### {title}\n")
        out.append("| server | clients | events/s published (of offered) | deliveries/s | latency p50 / p90 / p99 / p99.9 / max ms "
                   "| missing / dup / out-of-order | server disconnects | server CPU µs/delivery | server RSS peak MiB |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for s, r in rows:
            if not r:
                out.append(f"| {s} | not run | | | | | | | |")
                continue
            l = r["latency_ms"]
            lat = " / ".join(f(l[k], 2) for k in ("p50", "p90", "p99", "p999", "max")) if l["count"] else "—"
            rss = r.get("rss_peak_kib")
            out.append(
                f"| {s} | {r['connected']:,} | {r['achieved_rate']:.1f} ({r['offered_rate']:.0f}) | {r['deliveries_per_s']:,.0f} "
                f"| {lat} | {r['missing']:,} / {r['duplicates']:,} / {r['out_of_order']:,} | {r['disconnects']:,} "
                f"| {f(r.get('server_cpu_us_per_delivery'), 2)} | {f(rss / 1024 if rss else None, 1)} |")
    return "\n".join(out)


def ratio_table(data):
    out = ["\n| scenario | figure | vs nchan | vs Pushpin |", "|---|---|---|---|"]
    for name, title in LIVE:
        b = data.get((name, "buoycast"))
        if not b:
            continue
        for label, key, sub, better in [("p50 latency (peer ÷ buoycast)", "latency_ms", "p50", False),
                                        ("p99 latency (peer ÷ buoycast)", "latency_ms", "p99", False),
                                        ("deliveries/s (buoycast ÷ peer)", "deliveries_per_s", None, True),
                                        ("CPU per delivery (peer ÷ buoycast)", "server_cpu_us_per_delivery", None, False)]:
            cells = []
            for peer in ("nchan", "pushpin"):
                p = data.get((name, peer))
                if not p:
                    cells.append("—")
                    continue
                pv = p[key][sub] if sub else p.get(key)
                bv = b[key][sub] if sub else b.get(key)
                cells.append(ratio(pv, bv, better))
            out.append(f"| {title} | {label} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


def idle_table(data):
    out = ["\n| idle streams | server | connected | RSS before MiB | RSS with streams MiB | KiB per stream | connect p50 / p99 / max ms |",
           "|---|---|---|---|---|---|---|"]
    for name, n in IDLE:
        for s in SERVERS:
            r = data.get((name, s))
            if not r:
                continue
            c = r["connect_ms"]
            out.append(f"| {n:,} | {s} | {r['connected']:,} | {f((r['rss_before_kib'] or 0) / 1024)} "
                       f"| {f((r['rss_connected_kib'] or 0) / 1024)} | {f(r.get('kib_per_conn'), 2)} "
                       f"| {f(c['p50'], 2)} / {f(c['p99'], 2)} / {f(c['max'], 2)} |")
    return "\n".join(out)


def connect_table(data):
    out = ["\n| server | connected / failed | connect → first byte p50 / p90 / p99 / p99.9 / max ms |", "|---|---|---|"]
    for s in SERVERS:
        r = data.get(("connect-1000", s))
        if r:
            c = r["connect_ms"]
            out.append(f"| {s} | {r['connected']:,} / {r['failed']:,} | "
                       + " / ".join(f(c[k], 2) for k in ("p50", "p90", "p99", "p999", "max")) + " |")
    return "\n".join(out)


def resume_table(data):
    out = ["\n| server | missed events received | time to receive them (ms) | duplicates / out of order |", "|---|---|---|---|"]
    for s in SERVERS:
        r = data.get(("resume-10k", s))
        if r:
            out.append(f"| {s} | {f(r.get('resumed_events'))} | {f(r.get('resume_ms'))} | {r['duplicates']} / {r['out_of_order']} |")
    return "\n".join(out)


def plots(data, plots_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(plots_dir, exist_ok=True)
    made = []
    for name, title in LIVE:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        any_curve = False
        for s in SERVERS:
            r = data.get((name, s))
            if not r or not r.get("latency_curve"):
                continue
            pts = [(p, v) for p, v in r["latency_curve"] if p < 100.0]
            xs = [1.0 / (1.0 - p / 100.0) for p, _ in pts]
            ax.plot(xs, [v for _, v in pts], label=f"{s} ({r['achieved_rate']:.0f} ev/s published)", linewidth=1.8)
            any_curve = True
        if not any_curve:
            plt.close(fig)
            continue
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [1, 2, 10, 100, 1000, 10000, 100000]
        ax.set_xticks(ticks)
        ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
        ax.set_xlim(1, 100000)
        ax.set_xlabel("percentile")
        ax.set_ylabel("delivery latency (ms, log)")
        ax.set_title(f"Delivery latency by percentile — {title}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = os.path.join(plots_dir, f"latency-{name}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path)
    return made


def main():
    results = sys.argv[1]
    plots_dir = sys.argv[2] if len(sys.argv) > 2 else "docs/bench"
    data = load(results)
    print("### Live delivery\n" + live_tables(data))
    print("\n### Ratios (> 1× means buoycast is better)\n" + ratio_table(data))
    print("\n### Idle streams: memory per connection\n" + idle_table(data))
    print("\n### 1,000 new connections per second\n" + connect_table(data))
    print("\n### Resume of 10,000 missed events\n" + resume_table(data))
    for p in plots(data, plots_dir):
        print(f"\n![{os.path.basename(p)}](bench/{os.path.basename(p)})")


if __name__ == "__main__":
    main()
