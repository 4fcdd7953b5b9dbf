"""LEAF distillation: align a small student to a teacher's embedding space (MSE on the same texts), then export it.

Import the submodules directly (`leafbench.distill.stage`, `.trainer`, ...): this package file stays empty so that
`leafbench.config`, which needs `leafbench.distill_spec`, does not pull in torch.
"""
