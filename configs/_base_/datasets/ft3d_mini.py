# Minimized FlyingThings3D: a deterministic 1/5 of the training frames
# (all of them used, no every-4th thinning), the full validation split.
# `data_root` may be the full processed FT3D folder or a copy written by
# `tools/create_data.py ft3d-mini` (with the same ratio and seed).
_base_ = ['./ft3d.py']

train_dataloader = dict(
    dataset=dict(type='MinimizedFlyingThings3D', ratio=0.2, seed=0, every_k=1))
