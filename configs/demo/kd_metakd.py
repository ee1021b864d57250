# Meta-KD of a Weightnet=4 student: the demo teacher is updated (lr 1e-5)
# from a pilot student's GT loss on quiz batches of the 'val' split's
# scenes under another seed (held out from training and validation).
_base_ = ['./bpfn_synthetic.py']
model = dict(
    _delete_=True,
    type='MetaSceneFlowDistiller',
    student=dict(_base_.model, weightnet=4),
    teacher=_base_.model,
    teacher_ckpt='work_dirs/bpfn_synthetic',
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
