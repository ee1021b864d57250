# Meta-KD of a Weightnet=4 student: the committed demo teacher is updated
# (lr 1e-5) from a pilot student's GT loss on quiz batches of the 'val'
# split's scenes under another seed (held out from training and
# validation). Also on several processes (tools/dist_train.sh): the wrapper
# runs the meta step on every rank with the teacher's gradients all-reduced,
# and TeacherSyncHook stops the run if the ranks' teachers ever differ.
_base_ = ['./bpfn_synthetic_kd.py']
model = dict(
    type='MetaSceneFlowDistiller',
    student=dict(weightnet=4),
    teacher_optimizer=dict(type='Adam', lr=1e-5),
    first_order=False,
    distill_losses=[dict(type='OutputKDLoss', loss_weight=0.3)])
train_cfg = dict(
    type='MetaKDTrainLoop',
    quiz_dataloader=dict(
        _base_.train_dataloader,
        dataset=dict(
            _base_.train_dataloader.dataset, split='val', seed=1,
            num_samples=32)))
# Used only when training on several processes.
model_wrapper_cfg = dict(type='bpfn.MetaDistillerDDP')
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='TeacherSyncHook', interval=1),
]
