"""Explainer adapters over every implementation; BUILTIN maps registry names to 'module:Class'.

Entries are strings so that importing this package imports no third-party explanation library.
Outside packages add adapters through the entry-point group named in bench.registry.
"""

BUILTIN: dict[str, str] = {
    "inhouse.cam": "adapters.inhouse.activation_cams:CAM",
    "inhouse.eigencam": "adapters.inhouse.activation_cams:EigenCAM",
    "inhouse.gradcam": "adapters.inhouse.gradient_cams:GradCAM",
    "inhouse.gradcam++": "adapters.inhouse.gradient_cams:GradCAMPlusPlus",
    "inhouse.xgradcam": "adapters.inhouse.gradient_cams:XGradCAM",
    "inhouse.layercam": "adapters.inhouse.gradient_cams:LayerCAM",
    "inhouse.hirescam": "adapters.inhouse.gradient_cams:HiResCAM",
    "inhouse.scorecam": "adapters.inhouse.perturbation_cams:ScoreCAM",
    "inhouse.ablationcam": "adapters.inhouse.perturbation_cams:AblationCAM",
    "inhouse.saliency": "adapters.inhouse.input_gradients:Saliency",
    "inhouse.gradient_x_input": "adapters.inhouse.input_gradients:GradientXInput",
    "inhouse.integrated_gradients": "adapters.inhouse.integrated_gradients:IntegratedGradients",
    "inhouse.gradient_shap": "adapters.inhouse.gradient_shap:GradientSHAP",
    "inhouse.smoothgrad": "adapters.inhouse.noise_tunnel:SmoothGrad",
    "inhouse.smoothgrad_sq": "adapters.inhouse.noise_tunnel:SmoothGradSquared",
    "inhouse.vargrad": "adapters.inhouse.noise_tunnel:VarGrad",
    "inhouse.guided_backprop": "adapters.inhouse.guided:GuidedBackprop",
    "inhouse.guided_gradcam": "adapters.inhouse.guided:GuidedGradCAM",
    "inhouse.occlusion": "adapters.inhouse.occlusion:Occlusion",
    "inhouse.rise": "adapters.inhouse.rise:RISE",
    "baseline.random": "adapters.baselines:RandomMap",
    "baseline.centre": "adapters.baselines:CentrePrior",
    "baseline.constant": "adapters.baselines:ConstantMap",
}
