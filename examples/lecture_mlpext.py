# The lecture's NumPy MLP (XOR, 2-3-1 sigmoid network) with mlpext doing its three phases in C:
# mlpext.forward, mlpext.backward and mlpext.update replace the arithmetic of the training loop, in place on
# the script's own arrays W1, b1, W2, b2. Everything else is lecture_numpy.py, line for line. To see the change
# and check that the output is the same (same seed, same printed numbers):
#
#     diff examples/lecture_numpy.py examples/lecture_mlpext.py                       # the code change
#     diff <(python examples/lecture_numpy.py) <(python examples/lecture_mlpext.py)   # same output: no diff
import numpy as np
import mlpext

np.random.seed(0)  # fixed seed (not on the slides): the same weights, hence the same output, on every run

# Hyperparameters
input_size = 2      # input-layer nodes
hidden_size = 3     # hidden-layer nodes
output_size = 1     # output-layer nodes
learning_rate = 0.5 # learning rate
epochs = 10000      # training iterations

# 1. Data set (XOR problem)
# inputs: [0,0], [0,1], [1,0], [1,1]
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
# labels: [0], [1], [1], [0]
y = np.array([[0], [1], [1], [0]])

# 2. Initialize the weights (W) and biases (b) at random
W1 = np.random.randn(input_size, hidden_size)
b1 = np.random.randn(hidden_size)
W2 = np.random.randn(hidden_size, output_size)
b2 = np.random.randn(output_size)

# 3. The activation function and its derivative: sigmoid and x * (1 - x), inside mlpext's C core

# 4. Training
for epoch in range(epochs):
    # Forward propagation: hidden layer, then output layer
    hidden_activation, predicted_output = mlpext.forward(X, W1, b1, W2, b2)

    # Backpropagation, steps 1 and 2: the output layer's delta, then the hidden layer's
    delta_output, delta_hidden = mlpext.backward(y, hidden_activation, predicted_output, W2)

    # step 3: update the weights and biases (in place on W1, b1, W2, b2)
    mlpext.update(X, hidden_activation, delta_output, delta_hidden, W1, b1, W2, b2, learning_rate)

    # print the error every 1000th epoch
    if epoch % 1000 == 0:
        loss = np.mean(np.abs(y - predicted_output))
        print(f"Epoch: {epoch}, Loss: {loss:.4f}")

print("\n--- training done ---")

# 5. Predict with the trained model (check the result)
predicted_final = mlpext.predict(X, W1, b1, W2, b2)

print("inputs:\n", X)
print("predictions:\n", predicted_final.round())
print("labels:\n", y)
