"""The checks of exercise NN, in lesson_NN.py; lessons/check.py loads and runs them."""
