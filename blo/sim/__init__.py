"""The simulator's parts: realistic rates per post (:mod:`blo.sim.rates`), scripted
scenarios (:mod:`blo.sim.scenarios`) and a pure harness that runs both through the
pipeline's pure cores in simulated event time (:mod:`blo.sim.harness`). The generator
itself is :mod:`blo.simulate`."""
