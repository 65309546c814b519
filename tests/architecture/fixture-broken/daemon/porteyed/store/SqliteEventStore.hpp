// stands for the daemon's store header
