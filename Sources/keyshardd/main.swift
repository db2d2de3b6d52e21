print("keyshardd: not built yet")
