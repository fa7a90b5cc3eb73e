"""The Message Batches API: requests gathered into batches at half the price, collected by custom_id."""
