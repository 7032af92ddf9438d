"""The Workcity Chat benchmark (see bench/README.md). Not part of the product or its tests."""
