"""The public operations, one module per family: validate at the door, draw from ``rng``, record, dispatch.

- :mod:`numbadrop.ops.dropout`: element, channel and alpha dropout, stochastic depth, and :class:`DropoutState`;
- :mod:`numbadrop.ops.dropblock`: DropBlock 2-D and 3-D, and :class:`DropBlockState`;
- :mod:`numbadrop.ops.gaussian`: Gaussian dropout and noise, and :class:`GaussianState`;
- :mod:`numbadrop.ops.mask`: the keep-mask itself;
- :mod:`numbadrop.ops._front`: the steps they share.

Each hands the array to the backend of its kind (:mod:`numbadrop.backends`);
:mod:`numbadrop.functional` re-exports the public names.
"""
