# Meta-KD (MetaDistil) of the Weightnet=4 student: each step a pilot copy
# of the student takes a KD step, its GT loss on a quiz batch updates the
# teacher (lr 1e-5), then the student takes its real step. Quiz: every 5th
# training scene (FlyingThings3D has no offset option yet, so a quarter of
# them are also in the every-4th training subset).
_base_ = [
    '../_base_/models/bpfn.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(
    _delete_=True,
    type='MetaSceneFlowDistiller',
    student=dict(_base_.model, weightnet=4),
    teacher=_base_.model,
    teacher_ckpt='checkpoints/bpfn_ft3d.pth',
    teacher_optimizer=dict(type='Adam', lr=1e-5),
    first_order=False,  # True: finite-difference approximation, less memory
    distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)])
train_cfg = dict(
    type='MetaKDTrainLoop',
    quiz_dataloader=dict(
        _base_.train_dataloader,
        dataset=dict(_base_.train_dataloader.dataset, every_k=5)))
