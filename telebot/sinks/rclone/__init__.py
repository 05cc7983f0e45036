"""Everything rclone: the mirror sink, remote names and roots, and /clone's source."""
