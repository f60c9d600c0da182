"""Names of the classifier architectures a suite may ask for, kept free of torch so that config can check them."""

ARCHS = ("resnet18", "resnet34", "resnet50")
