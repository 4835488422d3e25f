"""pawprint: label-efficient image classification with SimCLR and knowledge distillation, as a DVC pipeline."""
