"""Host tools for physical buttons: flash, deploy, provision, monitor."""
