# The demo teacher for distillation: the demo model (configs/demo/
# bpfn_synthetic.py) trained 4x longer (40 epochs, the lr steps 4x apart),
# so that it is clearly better than the students trained on the demo budget
# (10 epochs). Its weights are committed as
# resources/bpfn_synthetic_teacher.pth (resources/README.md has the commands
# that produced them):
#   OMP_NUM_THREADS=1 python tools/train.py \
#       configs/demo/bpfn_synthetic_teacher.py
_base_ = ['./bpfn_synthetic.py']

param_scheduler = [
    dict(type='ClampedStepLR', step_size=16, gamma=0.5, min_lr=1e-5,
         by_epoch=True, begin=0, end=40)
]
train_cfg = dict(max_epochs=40, val_interval=5)
