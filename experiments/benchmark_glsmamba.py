"""GLSMamba: parameter and FLOP counts of the variants, then speed and memory per clip.

  python -m experiments.benchmark_glsmamba                  # B = 1, T = 5, 64 x 48
  python -m experiments.benchmark_glsmamba --xla_flops      # + XLA cross-check
  python -m experiments.benchmark_glsmamba --nospeed        # counts only (seconds)

Results go to benchmarks/results/benchmark_glsmamba_<backend>_<device>.json.

  python -m experiments.benchmark_glsmamba --pipeline --batch=1 --repeats=1

--pipeline times the video task instead, crops in (``glsmamba.run_pipeline``): the
trainer's train step of GLSMamba-B on a frozen, random ViTPose-B (clips/s, with the
backbone and on cached features) and the jitted task.predict with the flip test on
and off (crops/s), at T = --frames and --crop_height x --crop_width. On a 2-core CPU
the step takes minutes: keep --batch=1 --repeats=1 there. Results go to
benchmarks/results/benchmark_glsmamba_pipeline_<backend>_<device>.json.
"""

from absl import flags

from sasmamba_jax import benchmarking
from sasmamba_jax import cli
from sasmamba_jax.benchmarking import glsmamba as benchmark

_FRAMES = flags.DEFINE_integer("frames", 5, "Frames per clip (T).")
_HEIGHT = flags.DEFINE_integer("height", 64, "Feature map height h.")
_WIDTH = flags.DEFINE_integer("width", 48, "Feature map width w.")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Timed calls per measurement.")
_SPEED = flags.DEFINE_bool("speed", True, "Time glsmamba_b (else counts only).")
_XLA_FLOPS = flags.DEFINE_bool("xla_flops", False,
                               "Also compile a loop-free build for XLA's FLOP count.")
_IMPL = flags.DEFINE_string("impl", "auto", "Selective-scan implementation.")
_PIPELINE = flags.DEFINE_bool("pipeline", False,
                              "Time the pose_2d_video train step and predict instead.")
_BATCH = flags.DEFINE_integer("batch", 1, "--pipeline: clips per batch (B).")
_CROP_HEIGHT = flags.DEFINE_integer("crop_height", 256, "--pipeline: crop height H.")
_CROP_WIDTH = flags.DEFINE_integer("crop_width", 192, "--pipeline: crop width W.")
_MODEL = flags.DEFINE_string("model", "glsmamba_b", "--pipeline: the video head.")
_BACKBONE = flags.DEFINE_string("backbone", "vitpose_b",
                                "--pipeline: the frozen ViTPose (random weights).")
_RESULTS_DIR = flags.DEFINE_string("results_dir", str(benchmarking.RESULTS_DIR),
                                   "Where the JSON goes.")


def main(argv):
  cli.reject_extra_args(argv)
  if _PIPELINE.value:
    payload = benchmark.run_pipeline(
        model=_MODEL.value, backbone=_BACKBONE.value, frames=_FRAMES.value,
        height=_CROP_HEIGHT.value, width=_CROP_WIDTH.value, batch=_BATCH.value,
        repeats=_REPEATS.value)
    benchmarking.report("benchmark_glsmamba_pipeline", payload,
                        benchmark.PIPELINE_COLUMNS, _RESULTS_DIR.value)
    return
  payload = benchmark.run(frames=_FRAMES.value, height=_HEIGHT.value,
                          width=_WIDTH.value, repeats=_REPEATS.value,
                          speed=_SPEED.value, xla_flops=_XLA_FLOPS.value,
                          impl=_IMPL.value)
  print()
  print(benchmarking.format_table(payload["counts"], [
      "variant", "params", "params_m", "paper_params_m", "head_gmacs", "total_gmacs",
      "paper_gflops", "scan_gmacs", "sampling_gmacs"], markdown=True))
  columns = ["model", "frames", "features", "impl", "params", "forward_ms",
             "forward_backward_ms", "forward_mem_mib", "forward_backward_mem_mib",
             "one_route_LEN_state_mib", "forward_compile_s",
             "forward_backward_compile_s", "xla_gflops_loop_free",
             "analytic_head_gmacs"]
  if payload["results"]:
    benchmarking.report("benchmark_glsmamba", payload, columns, _RESULTS_DIR.value)
  else:
    print(f"saved {benchmarking.save_results('benchmark_glsmamba', payload, _RESULTS_DIR.value)}")


if __name__ == "__main__":
  cli.run(main)
