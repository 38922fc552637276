"""Cost of recording per-layer statistics: net T's SGD step with recording off and on."""
import numpy as np

from harness import add_case
from steps import NETS, fastnet_step

sizes, n = NETS["T"]
add_case("diagnostics", f"net T batch {n} float32 SGD step",
         {"fastnet": fastnet_step(sizes, n, np.float32, "sgd"),
          "recording stats": fastnet_step(sizes, n, np.float32, "sgd", record_stats=True)})
