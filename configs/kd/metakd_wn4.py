# Meta-KD (MetaDistil) of the Weightnet=4 student: each step a pilot copy
# of the student takes a KD step, its GT loss on a quiz batch updates the
# teacher (lr 1e-5), then the student takes its real step. Quiz: every 4th
# training scene from the third (offset 2), none of which is in the
# every-4th training subset (offset 0), as MetaDistil's held-out quiz set.
# On several processes (tools/dist_train.sh) MetaDistillerDDP runs the meta
# step on every rank with the teacher's gradients all-reduced.
_base_ = [
    '../_base_/models/bpfn_kd.py', '../_base_/datasets/ft3d_kitti_test.py',
    '../_base_/schedules/adam_560e.py', '../_base_/default_runtime.py'
]
model = dict(
    type='MetaSceneFlowDistiller',
    student=dict(weightnet=4),
    teacher_optimizer=dict(type='Adam', lr=1e-5),
    first_order=False,  # True: finite-difference approximation, less memory
    distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)])
train_cfg = dict(
    type='MetaKDTrainLoop',
    quiz_dataloader=dict(
        _base_.train_dataloader,
        dataset=dict(_base_.train_dataloader.dataset, every_k=4, offset=2)))
model_wrapper_cfg = dict(type='bpfn.MetaDistillerDDP')
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='TeacherSyncHook', interval=50),
]
