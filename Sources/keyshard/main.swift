print("keyshard")
