; SHL/SHR/SAR: CF is the last bit out, OF for count 1, count 0 changes no
; flag, the count is masked to 5 bits (6 with REX.W). AF after a shift is
; undefined: the value expected is the host CPU's. Flags in r8..r11.
; SDM Vol. 2B, SAL/SAR/SHL/SHR.
; mode: long
; expect: rax=2 rbx=0x40 rdx=0xc000 rsi=0x1234 rdi=2 r13=2 r14=4
; expect: r8=0x803 r9=0x803 r10=0x87 r11=0x97
; expect-exit: hlt
bits 64
org 0x10000
  mov al, 0x81
  shl al, 1                    ; 0x02: CF, OF = MSB ^ CF
  pushfq
  pop r8
  mov bl, 0x81
  shr bl, 1                    ; 0x40: CF, OF = old MSB
  pushfq
  pop r9
  mov dx, 0x8001
  sar dx, 1                    ; 0xc000: CF SF PF, OF clear
  pushfq
  pop r10
  mov eax, 5
  cmp eax, 6                   ; flags := CF SF AF PF
  mov eax, 2
  mov cl, 0
  mov rsi, 0xffffffff00001234
  shl esi, cl                  ; count 0: flags kept, esi written (zero-extends)
  pushfq
  pop r11
  mov cl, 33
  mov edi, 1
  shl edi, cl                  ; 33 & 31 = 1
  mov cl, 65
  mov r13, 1
  shl r13, cl                  ; 65 & 63 = 1
  mov r14, 0x4000000000000001
  shl r14, 2
  hlt
