"""Pure torch ``nn.Module`` architectures, one file per paper or metric. Importing this package
imports torch; the rest of mfif imports it lazily."""
