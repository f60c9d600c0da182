"""Publishing: tables from stored records (tidy scores and costs, the leaderboard view) and the files they are written to."""
