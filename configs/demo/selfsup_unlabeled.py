# Self-supervision alone, no teacher: a Weightnet=4 student trained on the
# 10% of the synthetic training scenes that keep their ground truth
# (labeled_fraction=0.1; GT loss, mean over the labelled samples of a batch)
# and on the other 90% with PointPWC-Net's self-supervised terms (Chamfer
# 1.0, smoothness 1.0, Laplacian 0.3, level weights 0.02-0.16). The label-
# scarce regime of tools/analysis_tools/kd_benchmark.py compares it with
# distillation on the same scenes.
_base_ = ['./bpfn_synthetic.py']
model = dict(
    _delete_=True,
    type='SceneFlowDistiller',
    student=dict(_base_.model, weightnet=4),
    teacher=None,
    self_supervised_losses=[
        dict(type='ChamferLoss', loss_weight=1.0),
        dict(type='SmoothnessLoss', loss_weight=1.0),
        dict(type='LaplacianLoss', loss_weight=0.3),
    ],
    self_supervised_on='unlabeled')
train_dataloader = dict(dataset=dict(labeled_fraction=0.1))
