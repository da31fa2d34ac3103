"""The benchmarks need no views; Django wants a URLconf all the same."""

urlpatterns: list[object] = []
