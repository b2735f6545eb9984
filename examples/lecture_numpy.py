# The lecture's NumPy MLP (XOR, 2-3-1 sigmoid network), as on its slides, with the comments in English.
#
# One change from the slides: np.random.seed(0) before the weights are drawn, so that every run prints the
# same numbers and this script can be compared line by line with lecture_mlpext.py, which is this script
# with mlpext doing the forward, backward and update steps:
#
#     diff examples/lecture_numpy.py examples/lecture_mlpext.py                       # the code change
#     diff <(python examples/lecture_numpy.py) <(python examples/lecture_mlpext.py)   # same output: no diff
import numpy as np

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

# 3. The activation function and its derivative (the derivative takes sigmoid's OUTPUT)
def sigmoid(x):
    return 1 / (1 + np.exp(-x))

def sigmoid_derivative(x):
    return x * (1 - x)

# 4. Training
for epoch in range(epochs):
    # Forward propagation
    # hidden layer
    hidden_output = np.dot(X, W1) + b1
    hidden_activation = sigmoid(hidden_output)

    # output layer
    output_output = np.dot(hidden_activation, W2) + b2
    predicted_output = sigmoid(output_output)

    # Backpropagation
    # step 1: the output layer's error and delta
    error_output = y - predicted_output
    delta_output = error_output * sigmoid_derivative(predicted_output)

    # step 2: the hidden layer's error and delta
    error_hidden = np.dot(delta_output, W2.T)
    delta_hidden = error_hidden * sigmoid_derivative(hidden_activation)

    # step 3: update the weights and biases
    W2 += np.dot(hidden_activation.T, delta_output) * learning_rate
    b2 += np.sum(delta_output, axis=0) * learning_rate
    W1 += np.dot(X.T, delta_hidden) * learning_rate
    b1 += np.sum(delta_hidden, axis=0) * learning_rate

    # print the error every 1000th epoch
    if epoch % 1000 == 0:
        loss = np.mean(np.abs(error_output))
        print(f"Epoch: {epoch}, Loss: {loss:.4f}")

print("\n--- training done ---")

# 5. Predict with the trained model (check the result)
hidden_output_final = np.dot(X, W1) + b1
hidden_activation_final = sigmoid(hidden_output_final)
predicted_final = sigmoid(np.dot(hidden_activation_final, W2) + b2)

print("inputs:\n", X)
print("predictions:\n", predicted_final.round())
print("labels:\n", y)
