"""Result tables (and figures) from run folders."""
