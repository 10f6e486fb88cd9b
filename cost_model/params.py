"""Named constants of the cost model: published facts, derived figures and calibrated guesses.

Each constant says where it comes from. ``[published]`` figures come from Hailo's runtime, product
pages or Model Zoo (see docs/HAILO.md); ``[derived]`` ones are arithmetic on those;
``[assumption]`` ones nobody publishes; ``[calibrated]`` ones were fitted by
``python -m benchmarks.calibrate`` (joint coordinate search over every row of
``partitioner/data/model_zoo_v2.18.csv`` whose network the zoo builds, each under its own
model script's flow; results in ``benchmarks/RESULTS.md``, "Calibration" and "Fidelity").
The presets in :mod:`cost_model.hardware` copy these values into ``HardwareSpec`` fields, so a
hardware TOML file can override any of them.
"""

from __future__ import annotations

# -- the NN core [published / derived] -------------------------------------------------------
CLOCK_HZ = 400_000_000  # hailort HAILO8_CLOCK_RATE, same on Hailo-8L [published]
MACS_PER_SC_PER_CYCLE = 64  # 26 TOPS / (512 SCs x 2 ops/MAC x 400 MHz) = 63.5 [derived]
MAX_SUBCLUSTERS_PER_NODE = 8  # a bigger layer is defused into several nodes [published]
EDGE_LAYERS_PER_CONTEXT = 20  # hailort MAX_EDGE_LAYERS_PER_CONTEXT [published]
# Bytes of one L3 memory cut. HAILO.md guesses ~16 KiB; with it ResNet-18 (11.7 MB) could never
# be single-context on Hailo-8L (512 cuts = 8.4 MB), which it is; the fit under each Model Zoo
# row's flow takes 32 KiB (1024 cuts = 32 MiB on Hailo-8; 34 KiB before the single-context
# flow's rule of one raised class, partitioner/flows.py) [calibrated].
L3_CUT_BYTES = 32 * 1024

# -- resources each node takes [published: "about 1 LCU, 1-2 APUs / IAs" per node] -------------
LCUS_PER_NODE = 1  # one layer controller drives one node
APUS_PER_NODE = 1  # "SCs 326/384, APUs 149/120, IAs 149/192, LCUs 149/96": 1 of each per node
INPUT_ALIGNERS_PER_NODE = 1  # same compile-log line [derived]
# A defused layer's combiner node (_dc) merges partial outputs with one SC [assumption].
COMBINER_SUBCLUSTERS = 1
SHORTCUT_SUBCLUSTERS = 0  # a shortcut node (sh_from_...) only moves a tensor [assumption]
# Shortcut nodes (sh_from_...) per tensor read by more than one consumer. Hailo-8L runs
# RegNetX-1.6GF (18 residual fan-outs) in one context of 64 LCUs: one per fan-out does not fit
# [calibrated: 0 or 1].
SHORTCUT_NODES = 0
# Op kinds Hailo's parser folds into a neighbouring layer: they take SCs for their work but no
# node of their own. Every Hailo layer ends in an activation stage (its APU), and an elementwise
# add folds into the conv that produces one operand [calibrated choice; see the README].
FUSED_OPS: tuple[str, ...] = ("activation", "add")
# Extra nodes a layer of these kinds takes because Hailo builds it from several layers (layer
# norm over tokens: mean, centre, variance, scale...; softmax: max, exp, sum, divide)
# [calibrated choice].
EXTRA_NODES_BY_OP: tuple[tuple[str, int], ...] = (("norm", 8), ("softmax", 6))
SIXTEEN_BIT_SC_FACTOR = 2  # a16_w16 takes twice the SCs per MAC of a8_w8 [assumption]

# -- compute rates ------------------------------------------------------------------------------
# Share of an SC's 64 MAC/cycle a dense conv sustains. Starting point: single-context ResNet-50
# runs 3.49 GMAC x 1372 FPS on 436 SCs (0.85 x 512): 3.49e9 x 1372 / (436 x 64 x 400e6) = 0.43
# [calibrated].
COMPUTE_EFFICIENCY = 0.8
# A depthwise conv has no input-channel reduction: of the SC's 64 MAC lanes, which a dense conv
# fills with input channels, one per output element works, at the dense conv's efficiency:
# COMPUTE_EFFICIENCY / 64 = 0.0125 for a 3x3 kernel. Fitted freely under each row's flow (192
# rows) it comes out at 0.0075, 40% under that mechanism [calibrated].
DWCONV_EFFICIENCY = 0.0075
# How a depthwise conv's cost grows with its kernel, relative to a 3x3 one: its work is
# ``MACs x (9 / (kh x kw)) ** (1 - exponent)``. At 1 every tap costs a MAC lane-cycle (a 5x5 costs
# 25/9 of a 3x3); at 0 the cost is per output element whatever the kernel (the taps run in
# parallel in the window). Hailo does not publish it; the networks with 5x5 depthwise convs
# (FastDepth's decoder, EfficientNet-Lite, MobileNetV3) decide it. The fit (0.34) puts a 5x5
# at (25/9) ** 0.66 = 1.96 times a 3x3's cost per output element, not 2.78: the taps are partly
# parallel [calibrated: grid 0, 0.5, 1, refined].
DWCONV_KERNEL_EXPONENT = 0.34000561
# Activation x activation products (attention): both operands are activations held whole. The
# fit goes below its grid (0.1 ... 0.8) to 0.050, a sixteenth of a dense conv's efficiency (0.036
# before Whisper-tiny's Model Zoo script put twelve of its dense layers in 16 bits in ctxfit too,
# session 12: part of what it absorbed was those layers' precision): the transformers are
# slower than their MACs, and the attention products are the only kind of
# layer they alone have, so this constant absorbs whatever makes them slow (an absorber: the
# transformers are the family the model prices worst, see RESULTS.md). What would decide the
# mechanism: per-layer profiler rates of one transformer (attention products, softmax, norm).
# A cost per element of the second operand, per attention score or per input element instead
# each fit worse (cost_model/README.md, session 11) [calibrated].
MATMUL_EFFICIENCY = 0.050005588718
# Layers without MACs (pool, add, concat, resize, softmax, norm, ...): elements one SC moves
# per cycle. Like a depthwise conv they use one lane per element: about one element per cycle
# at about the SC's efficiency; the fit on 192 rows gives 0.34, 43% of COMPUTE_EFFICIENCY (0.80)
# (140 rows: 0.67) [calibrated].
ELEMENTS_PER_SC_PER_CYCLE = 0.341290375398
# SC-cycles each layer spends per output row on top of its MACs or elements (row setup, line
# buffer turnaround): layers on small maps pay it relatively more [calibrated].
SC_CYCLES_PER_ROW = 2300.0

# -- splitting a layer -------------------------------------------------------------------------
# A channel split gives each node at least this many output channels; beyond that the split is
# spatial and the weights are replicated per spatial part [assumption].
MIN_CHANNELS_PER_NODE = 16
# Most nodes one layer is defused into (so most SCs: 7 x 8 = 56) [calibrated].
MAX_NODES_PER_LAYER = 7
# Line buffer: a layer buffers (kernel height + stride + this) rows of each input [assumption].
LINE_BUFFER_EXTRA_ROWS = 0
# Whether a layer where two paths meet (a residual add, a concat of an early map with an
# upsampled deep one) also holds the rows its short path delivers early, in L3 cuts, as a
# dataflow pipeline must (cost_model/skips.py: the lag of each path in rows; 1.0-1.4 MB on the
# 640x640 YOLOv5m/YOLOX necks, 0.2 MB on ResNet-50). Not published; the calibration compares
# both by leave-one-network-out error. What would decide it: the "L3 ios" of one network's
# compile log (the buffers, apart from the weights) against its line buffers [calibrated choice].
SKIP_BUFFERS = False

# -- contexts and the host link -----------------------------------------------------------------
CONFIG_BYTES_PER_NODE = 43335  # configuration loaded per node at a switch [calibrated]
# Firmware work per context switch beyond loading its bytes: the fit under each row's flow puts
# all of the switch cost in the bytes (weights + configuration) [calibrated].
CONTEXT_SWITCH_OVERHEAD_S = 0.0
# Filling + draining a context's pipeline at a switch, in its frame times [calibrated].
PIPELINE_FILL_FRAMES = 0.0
# Fixed cost of each row of a tensor the chip reads over PCIe (graph inputs; boundary tensors
# only with PCIE_OVERHEAD_BETWEEN_CONTEXTS). The rows that pin it: TDDFA (120x120 input) at
# 11,302 FPS and the RepVGG-A0 re-id (256x128) at 5,204 on Hailo-8, 88 and 192 us a frame,
# both 0.74 us per input row with nothing left for a fixed cost; the fit keeps 0.85 us (a
# 640-row input: 0.54 ms) [calibrated].
PCIE_ROW_OVERHEAD_S = 0.85e-6
# Fixed cost of each tensor crossing PCIe per frame, in each direction (a DMA transfer's
# descriptor setup and completion interrupt). The earlier fit (140 rows) put 100 us here to hold
# small 224x224 networks at ~2,500-3,500 FPS; TDDFA's whole frame takes 88 us, so no per-transfer
# cost of that size exists, and with the row costs split by direction the fit puts it at 0
# [calibrated].
PCIE_TRANSFER_OVERHEAD_S = 0.0
# The row cost of the device-to-host direction (outputs, tensors written to host memory), fitted
# apart from the host-to-device one above: Model Zoo rows pull the two apart. TDDFA (120 input
# rows, an output of one row) runs at 11,302 FPS on Hailo-8, 88 us a frame for its whole input,
# while ESPCN x3 and x4, tiny networks with different inputs and the same 312-row 312x480
# output, both stop at ~2,200 FPS (~450 us): 1.5 us a row. Fitted 1.27 us (1.495 under the
# squared loss), 1.5x a row read.
# What would decide the mechanism: hailortcli's per-stream transfer times of one network with a
# tall output [calibrated].
PCIE_OUT_ROW_OVERHEAD_S = 1.27075e-6
# Whether the tensors one context writes to host memory and a later one reads back pay the row
# and transfer costs above, or only their bytes. True: every crossing tensor pays them. False:
# only the graph's own inputs and outputs do (host-side work on the user's frames: formats,
# quantization, one transfer per frame buffer), and the runtime moves inter-context tensors as
# bulk DMA. Not published; the calibration compares both by leave-one-network-out error. What
# would decide it: per-context PCIe times of one multi-context profile [calibrated choice].
PCIE_OVERHEAD_BETWEEN_CONTEXTS = False
# PCIe payload efficiency (TLP/DLLP overhead): a Raspberry Pi's Gen2 x1 moves ~0.45 GB/s of a
# raw 0.5 GB/s and its Gen3 x1 ~0.9 of 0.985 GB/s, so ~0.9 [derived].
PCIE_EFFICIENCY = 0.9
# Lanes of the Gen3 link the Dataflow Compiler assumes for Hailo-8L when it chooses the
# partition. The compiler cannot know the host a HEF will run on (one HEF serves an M.2 slot and
# a Raspberry Pi alike), so the partition depends on the chip, not the host: Hailo-8 is decided
# at its module's Gen3 x4. For Hailo-8L the candidates are its M.2 module's Gen3 x2 and the same
# x4 as Hailo-8; the calibration compares them by leave-one-network-out error (the Model Zoo
# measured both chips on x4). The one published Hailo-8L context count (YOLOv8s: 4, the Raspberry
# Pi bundle) is a second witness. What would decide it: one Hailo-8L compile log's context count
# and FPS with the network's FPS on two hosts [calibrated choice].
HAILO8L_COMPILER_LINK_LANES = 2
PCIE_PJ_PER_BYTE = 25.0  # energy per byte moved over PCIe [published default of issue #3]
# -- power (cost_model/power.py) ----------------------------------------------------------------
# Hailo-8: "typical power consumption 2.5 W" for 26 TOPS (Hailo's product brief; the ~10 TOPS/W
# behind COMPUTE_PJ_PER_MAC) [published].
HAILO8_TYPICAL_POWER_W = 2.5
# Static share: what the part draws with a network loaded and no frame moving (leakage, clocks,
# PCIe link, the on-chip MCUs). Hailo publishes no idle figure [assumption: 40% of the typical
# figure]. What would decide it: the M.2 module's own power sensor (hailortcli's power
# measurement) read idle and while running one network at two rates; the intercept of watts
# against FPS is the static power, the slope the dynamic energy per frame.
STATIC_POWER_SHARE = 0.4
# Hailo-8L: no power figure in the sources of docs/HAILO.md [assumption: 1.5 W typical, 60% of
# Hailo-8's for half the clusters, as the PCIe link, MCUs and I/O do not halve]; the same
# measurement on a Hailo-8L module would decide it.
HAILO8L_TYPICAL_POWER_W = 1.5
# Compute energy per MAC: the dynamic part of the typical figure at the published rate, 60% of
# 2.5 W over 26 TOPS = 13e12 MAC/s: 1.5 W / 13e12 = 0.115 pJ [derived from the assumption above;
# it was 0.2 when all 2.5 W counted as dynamic]. It assumes the typical figure is drawn at the
# full rate; the power-sensor measurement above (its slope) would decide it.
HAILO8_MACS_PER_S = 26e12 / 2  # 26 TOPS, 2 ops per MAC [published]
COMPUTE_PJ_PER_MAC = (1 - STATIC_POWER_SHARE) * HAILO8_TYPICAL_POWER_W / HAILO8_MACS_PER_S * 1e12
