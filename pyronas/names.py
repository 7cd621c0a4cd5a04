"""The names a setting chooses among, kept free of torch so that a command line is checked before heavy imports.

The modules that act on a choice (:mod:`pyronas.infer.search`, :mod:`pyronas.data`, ...) import them from here;
the proxies' and published genotypes' names are those of their registries (``tests/test_settings.py`` holds them
equal).
"""

DATASETS = ("digits", "cifar10", "cifar100", "folder")  # data sets load_dataset reads by name
STEP_ORDERS = ("arch-first", "weights-first")  # which step of a search iteration comes first
CLIP_SPANS = ("weights", "weights+arch", "weights+arch-accumulated")  # what the supernet's clipped norm spans
DRAWS = ("epoch", "random", "random-replace")  # how the architecture batches are drawn
COST_METRICS = ("params", "flops", "latency")  # what a cost-aware search counts
AMP_NAMES = ("bf16", "fp16")  # autocast dtypes of the fast path
PROXIES = ("synflow", "nwot", "jacob_cov", "snip", "grad_norm", "grasp", "fisher", "params", "flops")  # proxy names
GENOTYPES = ("DARTS_V1", "DARTS_V2", "DARTS", "PDARTS", "PC_DARTS", "PCDARTS", "DrNAS", "GDAS_V1")  # published cells
ARCH_LR = {"adam": 3e-4, "ngvi": 0.01}  # the architecture optimizers known by short name, with their default rates
